"""ANNalog's encoder: every layer against the annalog package's own model on the same tokens.

The reference is built by the package itself (``SMILESModelHandler``: its tokenizer, its
``SimpleField``, its ``seq2seq_attention.Encoder`` and its checkpoint loading); pooling is
recomputed here with NumPy. Needs the annalog wheel; the package comparison also needs
``import annalog`` to work (it imports ``partialsmiles``).
"""

from __future__ import annotations

import importlib.util
import pickle
import warnings

import numpy as np
import pytest

from extras import import_or_skip

torch = import_or_skip("torch", "this test")

from molstrata.core.errors import ConfigError, OptionalDependencyError  # noqa: E402
from molstrata.data.smiles import parse_smiles  # noqa: E402
from molstrata.encoders import get_card, load_encoder  # noqa: E402
from molstrata.encoders.base import InputTooLongError  # noqa: E402
from molstrata.encoders.smiles import annalog as an  # noqa: E402

HAS_WHEEL = importlib.util.find_spec("annalog") is not None
pytestmark = pytest.mark.skipif(
    not HAS_WHEEL, reason="annalog wheel not installed (pip install --no-deps annalog==1.0.6)"
)

SMILES = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "O=C(O)C[C@H](N)C(=O)O",
    "ClC(Br)c1ccc2[nH]ccc2c1",
    "C[N+](C)(C)CC(=O)[O-]",
]
TOL = 1e-5


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("annalog", device="cpu")


@pytest.fixture(scope="module")
def package():
    """The package's own field and seq2seq model, built by the package's own handler."""
    try:
        from annalog.model_handler import SMILESModelHandler
    except ImportError as exc:  # partialsmiles missing: `import annalog` fails (CI installs it)
        pytest.fail(f"cannot import annalog ({exc}); pip install --no-deps partialsmiles==2.0")
    ckpt, vocab = an.annalog_files()
    handler = SMILESModelHandler(str(vocab), str(vocab), str(ckpt), device="cpu")
    src_field, _, model, _, _ = handler.get_model_and_fields()
    return src_field, model.eval()


def _package_layers(package, smiles):
    """Token ids, key mask and every encoder layer, run by the package's modules."""
    field, model = package
    src = field.process([field.preprocess(s) for s in smiles])  # B, T
    mask = model.make_src_mask(src)  # B, 1, 1, T
    enc = model.encoder
    with torch.no_grad():
        pos = torch.arange(src.shape[1]).unsqueeze(0).repeat(src.shape[0], 1)
        x = enc.dropout(enc.tok_embedding(src) * enc.scale + enc.pos_embedding(pos))
        layers = [x]
        for layer in enc.layers:
            x = layer(x, mask)
            layers.append(x)
        final = enc(src, mask)
    assert torch.equal(final, layers[-1])  # the per-layer walk is the package's forward
    return src, layers


def test_every_layer_matches_the_package_encoder(encoder, package):
    canon = list(parse_smiles(SMILES).canonical)
    src, ref = _package_layers(package, canon)
    ids, key_mask, cut = encoder.encode_tokens(canon)
    assert torch.equal(ids, src) and cut == []
    e = encoder.embed(SMILES)  # mean pooling over SMILES tokens, batched by length
    assert len(e) == 4 and e.dims == [256] * 4 and e.pooling == "mean"
    special = {package[0].vocab.stoi[t] for t in ("<sos>", "<eos>", "<pad>")}
    content = ~np.isin(src.numpy(), list(special))  # B, T
    diffs = []
    for k in range(4):
        h = ref[k].numpy()
        pooled = (h * content[..., None]).sum(1) / content.sum(1, keepdims=True)
        diffs.append(float(np.abs(e[k] - pooled).max()))
    assert max(diffs) < TOL, diffs
    cls = encoder.embed(SMILES, pooling="cls")
    for k in range(4):
        np.testing.assert_allclose(cls[k], ref[k].numpy()[:, 0], atol=TOL)


def test_tokenizer_matches_the_package(package, data_dir):
    import pandas as pd
    from annalog.model_files.vocabulary import SMILESTokenizer

    table = pd.read_csv(data_dir / "admet_group" / "herg" / "test.csv")
    smiles = list(table["Drug"].head(60)) + ["C%12CC%12", "[13CH3]Br", "Cl/C=C/Cl"]
    tok = SMILESTokenizer()
    for s in smiles:
        assert an.tokenize(s) == tok.tokenize(s), s


def test_batch_composition_does_not_change_states(encoder):
    together = encoder.embed(SMILES)
    alone = [encoder.embed([s]) for s in SMILES]
    for k in range(4):
        np.testing.assert_allclose(
            np.concatenate([a[k] for a in alone]), together[k], atol=TOL
        )


def test_long_inputs_are_cut_and_reported(encoder):
    long = "C" * 130
    with pytest.warns(UserWarning, match="max_length=102"):
        e = encoder.embed(["CCO", long])
    assert e.meta["truncated_rows"] == [1]
    cut = encoder.embed(["C" * 100])  # exactly what the model keeps
    np.testing.assert_allclose(e[3][1], cut[3][0], atol=TOL)
    strict = load_encoder("annalog", device="cpu")
    strict.on_too_long = "raise"
    with pytest.raises(InputTooLongError, match="row 1 \\(132 tokens\\)"):
        strict.embed(["CCO", long])


def test_unknown_tokens_warn_once_and_map_to_unk(encoder):
    fresh = load_encoder("annalog", device="cpu")
    with pytest.warns(UserWarning, match=r"lacks the SMILES tokens \['I'\]"):
        fresh.embed(["CCI"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh.embed(["ICCI"])  # already reported
    ids, _, _ = fresh.encode_tokens(["CCI"])
    assert ids[0, 3].item() == fresh.stoi["<unk>"]


def test_truncation_and_max_layer(encoder):
    full = encoder.embed(SMILES[:3])
    two = encoder.truncate(1).embed(SMILES[:3])
    assert len(two) == 2
    np.testing.assert_allclose(two[1], full[1], atol=TOL)
    assert load_encoder("annalog", device="cpu", max_layer=0).num_layers == 0
    with pytest.raises(ConfigError, match="out of range"):
        load_encoder("annalog", max_layer=4)
    with pytest.raises(ConfigError, match="unknown option"):
        load_encoder("annalog", revision="x")


def test_random_init_is_seeded(encoder):
    a = load_encoder("annalog", device="cpu", random_init=True, seed=1).embed(SMILES[:2])
    b = load_encoder("annalog", device="cpu", random_init=True, seed=1).embed(SMILES[:2])
    trained = encoder.embed(SMILES[:2])
    np.testing.assert_array_equal(a[3], b[3])
    assert np.abs(a[3] - trained[3]).max() > 1e-2


def test_vocab_with_globals_is_refused(tmp_path):
    path = tmp_path / "vocab.pkl"
    path.write_bytes(pickle.dumps({"itos": [], "stoi": {}, "x": np.float64(1.0)}))
    with pytest.raises(ConfigError, match="Python global"):
        an.load_vocab(path)
    ok = tmp_path / "ok.pkl"
    ok.write_bytes(pickle.dumps({"itos": list(an.SPECIALS), "stoi": {t: i for i, t in enumerate(an.SPECIALS)}}))
    assert an.load_vocab(ok)["<eos>"] == 3


def test_card_and_missing_package(monkeypatch):
    card = get_card("annalog")
    assert card.weights_present and card.num_layers == 3 and card.license == "MIT"
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "annalog" else real(name, *a)
    )
    with pytest.raises(OptionalDependencyError, match="pip install --no-deps 'annalog"):
        load_encoder("annalog")
    assert get_card("annalog").weights_present is False
