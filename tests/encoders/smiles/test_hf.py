"""HF adapter: layer counts, pooling against hand computations from raw hidden states,
truncation at load, random init, identity, remote-code refusal. All models are tiny,
random and built locally (fixtures in tests/conftest.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from molstrata import load_encoder
from molstrata.core.errors import ConfigError
from molstrata.encoders.base import InputTooLongError
from molstrata.encoders.smiles.hf import HFEncoder, load_hf


@pytest.fixture(scope="module")
def tiny_gptneo_dir(tmp_path_factory):
    """ChemGPT's architecture (GPT-Neo: local/global attention, final ln_f), 3 blocks."""
    from transformers import GPTNeoConfig, GPTNeoModel

    from tiny_models import build_tiny_tokenizer, save_tiny

    tok = build_tiny_tokenizer(64, bos_eos=False)
    torch.manual_seed(4)
    cfg = GPTNeoConfig(
        vocab_size=len(tok), hidden_size=32, num_layers=3, num_heads=2,
        attention_types=[[["global", "local"], 1], [["global"], 1]], window_size=4,
        max_position_embeddings=64, bos_token_id=0, eos_token_id=2,
    )
    return save_tiny(tmp_path_factory.mktemp("tiny_gptneo"), GPTNeoModel(cfg).eval(), tok)


SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C", "CN1CCC[C@H]1c1cccnc1", "OC(=O)CCl"]


def _raw_hidden(folder, smiles):
    """Full model's hidden states via plain transformers, one molecule at a time (no padding)."""
    from transformers import AutoConfig, AutoModel, AutoModelForTextEncoding, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    cfg = AutoConfig.from_pretrained(folder)
    cls = AutoModelForTextEncoding if cfg.model_type == "t5" else AutoModel
    model = cls.from_pretrained(folder, dtype=torch.float32).eval()
    out = []
    for s in smiles:
        enc = tok([s], return_tensors="pt", return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask")[0].bool()
        with torch.no_grad():
            hs = model(**enc, output_hidden_states=True).hidden_states
        out.append(([h[0].numpy() for h in hs], special.numpy()))
    return out


@pytest.mark.parametrize("fixture", ["tiny_roberta_dir", "tiny_bert_dir", "tiny_gpt2_dir", "tiny_t5_dir"])
def test_layers_and_mean_pooling_match_hand_computation(fixture, request):
    folder = request.getfixturevalue(fixture)
    enc = load_encoder(str(folder), device="cpu")
    assert isinstance(enc, HFEncoder)
    assert enc.num_layers == 3
    emb = enc.embed(SMILES, pooling="mean", batch_size=4)
    assert len(emb) == 4 and emb.dims == [32] * 4
    assert all(layer.dtype == np.float32 and layer.shape == (len(SMILES), 32) for layer in emb)
    from molstrata.data.smiles import parse_smiles

    canon = list(parse_smiles(SMILES).canonical)
    for i, (hs, special) in enumerate(_raw_hidden(folder, canon)):
        for k in range(4):
            expected = hs[k][~special].mean(axis=0)  # content tokens only
            np.testing.assert_allclose(emb[k][i], expected, atol=2e-5, rtol=1e-4)


def test_other_poolings_match_hand_computation(tiny_roberta_dir):
    enc = load_encoder(str(tiny_roberta_dir), device="cpu")
    from molstrata.data.smiles import parse_smiles

    canon = list(parse_smiles(SMILES).canonical)
    raw = _raw_hidden(tiny_roberta_dir, canon)
    for method in ("max", "sum", "cls"):
        emb = enc.embed(SMILES, pooling=method, batch_size=3)
        for i, (hs, special) in enumerate(raw):
            for k in range(4):
                if method == "max":
                    expected = hs[k][~special].max(axis=0)
                elif method == "sum":
                    expected = hs[k][~special].sum(axis=0)
                else:
                    expected = hs[k][0]
                np.testing.assert_allclose(emb[k][i], expected, atol=5e-5, rtol=1e-4)
    with_special = enc.embed(SMILES, pooling="mean", include_special=True)
    for i, (hs, _) in enumerate(raw):
        np.testing.assert_allclose(with_special[2][i], hs[2].mean(axis=0), atol=2e-5, rtol=1e-4)


def test_cls_refused_when_no_leading_special_token(tiny_gpt2_dir):
    enc = load_encoder(str(tiny_gpt2_dir), device="cpu")
    assert "cls" not in enc.poolings
    with pytest.raises(ConfigError, match="cls"):
        enc.embed(["CCO"], pooling="cls")


@pytest.mark.parametrize(
    "fixture", ["tiny_roberta_dir", "tiny_bert_dir", "tiny_gpt2_dir", "tiny_gptneo_dir", "tiny_t5_dir"]
)
@pytest.mark.parametrize("k", [1, 2])
def test_truncated_at_load_equals_full_prefix(fixture, k, request):
    folder = request.getfixturevalue(fixture)
    full = load_encoder(str(folder), device="cpu")
    short = load_encoder(str(folder), device="cpu", max_layer=k)
    assert short.num_layers == k and short.full_num_layers == 3
    blocks = [m for m in short.module.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == k]
    assert blocks, "the truncated model holds k blocks"
    a = full.embed(SMILES, batch_size=8)
    b = short.embed(SMILES, batch_size=8)
    assert len(b) == k + 1
    for j in range(k + 1):
        np.testing.assert_allclose(b[j], a[j], atol=1e-6, rtol=0)
    # Encoder.truncate on the loaded full model gives the same
    c = full.truncate(k).embed(SMILES, batch_size=8)
    for j in range(k + 1):
        np.testing.assert_allclose(c[j], a[j], atol=1e-6, rtol=0)
    # truncation does not touch the full encoder
    np.testing.assert_array_equal(full.embed(SMILES, batch_size=8)[3], a[3])


def test_truncated_model_has_fewer_parameters(tiny_roberta_dir):
    full = load_encoder(str(tiny_roberta_dir), device="cpu")
    short = load_encoder(str(tiny_roberta_dir), device="cpu", max_layer=1)
    n_full = sum(p.numel() for p in full.module.parameters())
    n_short = sum(p.numel() for p in short.module.parameters())
    per_block = sum(p.numel() for p in full.module.encoder.layer[0].parameters())
    assert n_full - n_short == 2 * per_block


def test_max_layer_out_of_range(tiny_roberta_dir):
    with pytest.raises(ConfigError, match="max_layer=5"):
        load_encoder(str(tiny_roberta_dir), max_layer=5)
    with pytest.raises(ConfigError, match="max_layer=0"):
        load_encoder(str(tiny_roberta_dir), max_layer=0)
    with pytest.raises(ConfigError, match="truncate"):
        load_encoder(str(tiny_roberta_dir)).truncate(4)


def test_random_init_is_seeded_and_differs(tiny_roberta_dir):
    trained = load_encoder(str(tiny_roberta_dir), device="cpu")  # fixture drew weights with seed 0
    r0 = load_encoder(str(tiny_roberta_dir), device="cpu", random_init=True, seed=5)
    r0b = load_encoder(str(tiny_roberta_dir), device="cpu", random_init=True, seed=5)
    r1 = load_encoder(str(tiny_roberta_dir), device="cpu", random_init=True, seed=6)
    e0, e0b, e1, et = (x.embed(SMILES)[2] for x in (r0, r0b, r1, trained))
    np.testing.assert_array_equal(e0, e0b)
    assert not np.allclose(e0, e1)
    assert not np.allclose(e0, et)
    ids = {x.identity()["weights_sha256"] for x in (r0, r1, trained)}
    assert len(ids) == 3 and r0.identity() == r0b.identity()
    # random init + truncation keeps the full random model's first blocks
    r0k = load_encoder(str(tiny_roberta_dir), device="cpu", random_init=True, seed=5, max_layer=2)
    np.testing.assert_allclose(r0k.embed(SMILES)[2], e0, atol=1e-6, rtol=0)


def test_identity_changes_with_weights_tokenizer_length_and_truncation(tiny_roberta_dir, tmp_path):
    import shutil

    base = load_hf(str(tiny_roberta_dir), device="cpu").identity()
    assert load_hf(str(tiny_roberta_dir), device="cpu").identity() == base
    assert load_hf(str(tiny_roberta_dir), device="cpu", max_length=20).identity() != base
    assert load_hf(str(tiny_roberta_dir), device="cpu", max_layer=2).identity() != base
    # other weights, same folder layout
    other = tmp_path / "other"
    shutil.copytree(tiny_roberta_dir, other)
    # the same model read from another folder is the same model (the cache key must match)
    moved = load_hf(str(other), device="cpu", name=str(tiny_roberta_dir)).identity()
    assert moved == base
    from transformers import AutoModel

    model = AutoModel.from_pretrained(other)
    with torch.no_grad():
        model.encoder.layer[1].output.dense.bias.add_(1e-3)
    model.save_pretrained(other)
    ident = load_hf(str(other), device="cpu").identity()
    assert ident["weights_sha256"] != base["weights_sha256"]
    assert ident["tokenizer_sha256"] == base["tokenizer_sha256"]
    # another tokenizer vocabulary order
    tok_json = json.loads((other / "tokenizer.json").read_text())
    vocab = tok_json["model"]["vocab"]
    a, b = "Cl", "Br"
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (other / "tokenizer.json").write_text(json.dumps(tok_json))
    assert load_hf(str(other), device="cpu").identity()["tokenizer_sha256"] != base["tokenizer_sha256"]


def test_too_long_inputs_warn_or_raise(tiny_roberta_dir):
    long = "C" * 40  # 42 tokens with <s> and </s>
    enc = load_hf(str(tiny_roberta_dir), device="cpu", max_length=16)
    with pytest.warns(UserWarning, match="max_length=16"):
        emb = enc.embed(["CCO", long, "CCN"])
    assert emb.meta["truncated_rows"] == [1] and emb.meta["n_truncated"] == 1
    assert np.isfinite(emb[3]).all()
    strict = load_hf(str(tiny_roberta_dir), device="cpu", max_length=16, on_too_long="raise")
    with pytest.raises(InputTooLongError, match=r"row 1 \(42 tokens\)") as info:
        strict.embed(["CCO", long, "CCN"])
    assert info.value.indices == [1]
    with pytest.raises(ConfigError, match="exceeds"):
        load_hf(str(tiny_roberta_dir), max_length=1000)


def test_refuses_remote_code_without_flag(tmp_path, tiny_roberta_dir):
    import shutil

    folder = tmp_path / "custom"
    shutil.copytree(tiny_roberta_dir, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model_type"] = "tiny-custom-molecule"
    cfg["auto_map"] = {"AutoConfig": "configuration_custom.CustomConfig", "AutoModel": "modeling_custom.CustomModel"}
    (folder / "config.json").write_text(json.dumps(cfg))
    marker = tmp_path / "code_ran"
    (folder / "configuration_custom.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import RobertaConfig\n"
        "class CustomConfig(RobertaConfig):\n    model_type = 'tiny-custom-molecule'\n"
    )
    (folder / "modeling_custom.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import RobertaModel\n"
        "from .configuration_custom import CustomConfig\n"
        "class CustomModel(RobertaModel):\n    config_class = CustomConfig\n"
    )
    with pytest.raises(ConfigError, match="trust_remote_code"):
        load_encoder(str(folder))
    assert not marker.exists(), "the folder's code must not run without the flag"
    enc = load_encoder(str(folder), trust_remote_code=True, device="cpu")
    assert marker.exists()
    assert len(enc.embed(["CCO"])) == 4


def test_module_and_eval_mode(tiny_roberta_dir):
    enc = load_encoder(str(tiny_roberta_dir), device="cpu")
    assert isinstance(enc.module, torch.nn.Module)
    assert not enc.module.training
    assert all(p.dtype == torch.float32 for p in enc.module.parameters())


def test_canonicalize_false_feeds_raw_strings(tiny_roberta_dir):
    enc = load_encoder(str(tiny_roberta_dir), device="cpu")
    raw = ["OCC", "CCO"]  # same molecule, two spellings
    canon = enc.embed(raw)
    np.testing.assert_allclose(canon[3][0], canon[3][1], atol=1e-6)
    fed_raw = enc.embed(raw, canonicalize=False)
    assert not np.allclose(fed_raw[3][0], fed_raw[3][1])
    np.testing.assert_allclose(fed_raw[3][1], canon[3][1], atol=1e-6)
    assert fed_raw.meta["canonicalize"] is False
    states = enc.token_states(raw, canonicalize=False)
    assert [s.shape for s in states[0]] == [(3, 32), (3, 32)]


def test_uncached_hub_id_fails_clearly_offline():
    from molstrata.core.errors import DataNotFoundError

    with pytest.raises(DataNotFoundError, match="molstrata-test/not-a-cached-model"):
        load_encoder("molstrata-test/not-a-cached-model")
