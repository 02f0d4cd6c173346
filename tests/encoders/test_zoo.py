"""Named HF SMILES models (encoders/zoo.py): ChemBERTa, ChemGPT (SELFIES), MoLFormer (remote
code). The real weights are on the hub; these tests load the same transformers architecture
classes with small random weights from local folders passed as ``path=``."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch

from molstrata import load_encoder
from molstrata.core.errors import ConfigError, OptionalDependencyError
from molstrata.data.smiles import parse_smiles
from molstrata.encoders.registry import get_card, registered_names

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C", "OC(=O)CCl"]
ZOO_NAMES = ["chemberta-77m-mlm", "chemberta-zinc-base", "chemgpt-4.7m", "molformer-xl"]


def test_registered_with_cards():
    published = {"chemberta-77m-mlm": (3, 384), "chemberta-zinc-base": (6, 768),
                 "chemgpt-4.7m": (24, 128), "molformer-xl": (12, 768)}
    for name in ZOO_NAMES:
        assert name in registered_names()
        card = get_card(name)
        assert card.kind == "smiles-transformer"
        assert (card.num_layers, card.dims[0]) == published[name]
        assert len(card.dims) == card.num_layers + 1
        assert "/" in card.weights and card.how_to_get_weights and card.verified
        assert isinstance(card.weights_present, bool)
    assert get_card("chemgpt-4.7m").extra == "chemgpt"


def test_weights_present_reads_the_hf_cache_layout(tmp_path):
    from molstrata.encoders.zoo import _weights_cached

    assert _weights_cached("DeepChem/ChemBERTa-77M-MLM", cache_dir=str(tmp_path)) is False
    repo = tmp_path / "models--DeepChem--ChemBERTa-77M-MLM"
    snap = repo / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (snap / "config.json").write_text("{}")
    assert _weights_cached("DeepChem/ChemBERTa-77M-MLM", cache_dir=str(tmp_path)) is False
    (snap / "model.safetensors").write_bytes(b"")
    assert _weights_cached("DeepChem/ChemBERTa-77M-MLM", cache_dir=str(tmp_path)) is True


def test_chemberta_by_name_reads_local_folder(tiny_roberta_dir):
    enc = load_encoder("chemberta-77m-mlm", path=str(tiny_roberta_dir), device="cpu")
    assert enc.name == "chemberta-77m-mlm" and enc.num_layers == 3
    emb = enc.embed(SMILES)
    assert emb.encoder == "chemberta-77m-mlm" and len(emb) == 4
    plain = load_encoder(str(tiny_roberta_dir), device="cpu").embed(SMILES)
    for k in range(4):
        np.testing.assert_array_equal(emb[k], plain[k])


# ----------------------------------------------------------------------------- ChemGPT
@pytest.fixture(scope="module")
def tiny_chemgpt_dir(tmp_path_factory):
    """ChemGPT's architecture (GPT-Neo, local/global attention) over a SELFIES vocabulary."""
    import selfies as sf
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import GPTNeoConfig, GPTNeoModel, PreTrainedTokenizerFast

    alphabet = sorted(sf.get_semantic_robust_alphabet() | {"[Ring1]", "[Ring2]", "[Branch1]",
                                                           "[=Branch1]", "[Branch2]", "[=Branch2]"})
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[BOS]", "[EOS]", *alphabet])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\[[^\]]+\]"), behavior="isolated")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]",
        eos_token="[EOS]", model_max_length=64,
    )
    torch.manual_seed(7)
    cfg = GPTNeoConfig(
        vocab_size=len(vocab), hidden_size=32, num_layers=4, num_heads=2,
        attention_types=[[["global", "local"], 2]], window_size=4, max_position_embeddings=64,
        bos_token_id=2, eos_token_id=3,
    )
    folder = tmp_path_factory.mktemp("tiny_chemgpt")
    GPTNeoModel(cfg).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_chemgpt_feeds_selfies_and_matches_raw_model(tiny_chemgpt_dir):
    import selfies as sf
    from transformers import AutoModel, AutoTokenizer

    enc = load_encoder("chemgpt-4.7m", path=str(tiny_chemgpt_dir), device="cpu")
    assert enc.num_layers == 4
    emb = enc.embed(SMILES, batch_size=2)
    assert len(emb) == 5 and all(e.shape == (len(SMILES), 32) and e.dtype == np.float32 for e in emb)
    assert emb.meta["identity"]["input"] == "selfies"
    tok = AutoTokenizer.from_pretrained(tiny_chemgpt_dir)
    model = AutoModel.from_pretrained(tiny_chemgpt_dir).eval()
    for i, smi in enumerate(parse_smiles(SMILES).canonical):
        ids = tok([sf.encoder(smi)], return_tensors="pt")
        assert (ids["input_ids"] != tok.unk_token_id).all(), "SELFIES tokens must all be known"
        with torch.no_grad():
            hs = model(**ids, output_hidden_states=True).hidden_states
        for k in range(5):
            np.testing.assert_allclose(emb[k][i], hs[k][0].mean(0).numpy(), atol=2e-5, rtol=1e-4)


def test_chemgpt_truncation_and_determinism(tiny_chemgpt_dir):
    full = load_encoder("chemgpt-4.7m", path=str(tiny_chemgpt_dir), device="cpu")
    a, b = full.embed(SMILES), full.embed(SMILES)
    for k in range(5):
        np.testing.assert_array_equal(a[k], b[k])
    for cut in (load_encoder("chemgpt-4.7m", path=str(tiny_chemgpt_dir), device="cpu", max_layer=2),
                full.truncate(2)):
        assert type(cut).__name__ == "SelfiesHFEncoder" and cut.num_layers == 2
        short = cut.embed(SMILES)
        assert len(short) == 3
        for k in range(3):
            np.testing.assert_allclose(short[k], a[k], atol=1e-5)


def test_chemgpt_without_selfies_says_which_extra(tiny_chemgpt_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "selfies", None)
    with pytest.raises(OptionalDependencyError, match=r"molstrata\[chemgpt\]"):
        load_encoder("chemgpt-4.7m", path=str(tiny_chemgpt_dir), device="cpu")


# ---------------------------------------------------------------------------- MoLFormer
_CONFIG_PY = """
open({marker!r}, "a").write("config\\n")
from transformers import PretrainedConfig

class TinyMolformerConfig(PretrainedConfig):
    model_type = "molformer"
    def __init__(self, vocab_size=64, hidden_size=32, num_hidden_layers=3, pad_token_id=1,
                 deterministic_eval=False, max_position_embeddings=64, **kw):
        super().__init__(pad_token_id=pad_token_id, **kw)
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.num_hidden_layers, self.deterministic_eval = num_hidden_layers, deterministic_eval
        self.max_position_embeddings = max_position_embeddings
"""

_MODELING_PY = """
open({marker!r}, "a").write("modeling\\n")
import torch
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput
from .configuration_tiny import TinyMolformerConfig

class TinyMolformerModel(PreTrainedModel):
    '''Stand-in for MoLFormer: like its linear attention, it draws random features at eval
    unless config.deterministic_eval is set.'''
    config_class = TinyMolformerConfig
    base_model_prefix = "molformer"

    def __init__(self, config):
        super().__init__(config)
        self.embeddings = torch.nn.Embedding(config.vocab_size, config.hidden_size)
        self.blocks = torch.nn.ModuleList(
            [torch.nn.Linear(config.hidden_size, config.hidden_size) for _ in range(config.num_hidden_layers)])
        self.post_init()

    def forward(self, input_ids, attention_mask=None, output_hidden_states=True, return_dict=True, **kw):
        h = self.embeddings(input_ids)
        states = [h]
        for block in self.blocks:
            h = torch.tanh(block(h))
            if not self.config.deterministic_eval:
                h = h + torch.randn_like(h)
            states.append(h)
        return BaseModelOutput(last_hidden_state=h, hidden_states=tuple(states))
"""


@pytest.fixture()
def molformer_like_dir(tmp_path):
    """A local folder shaped like ibm/MoLFormer-XL: model_type unknown to transformers,
    auto_map pointing at modeling code inside the folder, deterministic_eval false."""
    from tiny_models import build_tiny_tokenizer

    folder = tmp_path / "molformer_like"
    folder.mkdir()
    marker = tmp_path / "code_ran.txt"
    (folder / "configuration_tiny.py").write_text(_CONFIG_PY.format(marker=str(marker)))
    (folder / "modeling_tiny.py").write_text(_MODELING_PY.format(marker=str(marker)))
    tok = build_tiny_tokenizer(64)
    tok.save_pretrained(folder)
    # weights: build the class from the folder's code in a scratch copy, then save here
    scratch = tmp_path / "scratch"
    shutil.copytree(folder, scratch)
    sys.path.insert(0, str(scratch))
    try:
        import configuration_tiny  # noqa: F401
        spec_cfg = sys.modules["configuration_tiny"].TinyMolformerConfig
        src = (scratch / "modeling_tiny.py").read_text().replace(".configuration_tiny", "configuration_tiny")
        namespace: dict = {}
        exec(compile(src, str(scratch / "modeling_tiny.py"), "exec"), namespace)
        torch.manual_seed(3)
        model = namespace["TinyMolformerModel"](spec_cfg(vocab_size=len(tok)))
        from safetensors.torch import save_file

        save_file(model.state_dict(), str(folder / "model.safetensors"))
    finally:
        sys.path.remove(str(scratch))
        sys.modules.pop("configuration_tiny", None)
    cfg = {
        "model_type": "molformer", "vocab_size": len(tok), "hidden_size": 32,
        "num_hidden_layers": 3, "pad_token_id": 1, "deterministic_eval": False,
        "max_position_embeddings": 64, "architectures": ["TinyMolformerModel"],
        "auto_map": {"AutoConfig": "configuration_tiny.TinyMolformerConfig",
                     "AutoModel": "modeling_tiny.TinyMolformerModel"},
    }
    (folder / "config.json").write_text(json.dumps(cfg))
    marker.unlink(missing_ok=True)
    return folder, marker


def test_molformer_refuses_remote_code_without_flag(molformer_like_dir):
    folder, marker = molformer_like_dir
    with pytest.raises(ConfigError, match="trust_remote_code"):
        load_encoder("molformer-xl", path=str(folder), device="cpu")
    assert not marker.exists(), "the checkpoint's code must not run without the flag"


def test_molformer_with_flag_gives_all_layers_deterministically(molformer_like_dir):
    folder, marker = molformer_like_dir
    enc = load_encoder("molformer-xl", path=str(folder), trust_remote_code=True, device="cpu")
    assert "modeling" in marker.read_text()
    assert enc.name == "molformer-xl" and enc.num_layers == 3
    assert enc.model.config.deterministic_eval is True
    assert enc.identity()["deterministic_eval"] is True
    a, b = enc.embed(SMILES), enc.embed(SMILES)
    assert len(a) == 4 and a.dims == [32] * 4
    for k in range(4):
        np.testing.assert_array_equal(a[k], b[k])  # random features would differ
    cut = load_encoder("molformer-xl", path=str(folder), trust_remote_code=True, device="cpu", max_layer=2)
    short = cut.embed(SMILES)
    assert len(short) == 3
    for k in range(3):
        np.testing.assert_allclose(short[k], a[k], atol=1e-6)
