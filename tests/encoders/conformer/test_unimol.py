"""Uni-Mol v1 adapter on unimol-tools' own ``UniMolModel`` with local random weights (the
published checkpoint is on a hub this machine cannot reach)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from extras import installed_or_skip

installed_or_skip("unimol_tools", "this test")

from molstrata import load_encoder  # noqa: E402
from molstrata.core.errors import ConfigError  # noqa: E402
from molstrata.encoders.conformer.unimol import UniMolEncoder, load_unimol  # noqa: E402

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "OC(=O)CCl"]
ARCH = dict(encoder_layers=4, encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_attention_heads=4)
SYMBOLS = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "C", "N", "O", "S", "H", "Cl", "F", "Br", "I", "P"]


@pytest.fixture(scope="module")
def unimol_dir(tmp_path_factory):
    """A folder like unimol-tools' weight dir: mol.dict.txt + a Uni-Core style checkpoint
    ({'args': Namespace, 'model': state_dict}) of a small random UniMolModel."""
    folder = tmp_path_factory.mktemp("unimol")
    (folder / "mol.dict.txt").write_text("\n".join(SYMBOLS) + "\n")
    enc = load_unimol(dict_path=folder / "mol.dict.txt", random_init=True, seed=3, arch=ARCH, device="cpu")
    state = {k: v for k, v in enc.model.state_dict().items() if not k.startswith("classification_head")}
    state["lm_head.dense.weight"] = torch.zeros(2, 2)  # pretraining heads are ignored
    torch.save({"args": argparse.Namespace(arch="unimol"), "model": state}, folder / "mol_pre_all_h_220816.pt")
    return folder


def _load(folder, **kw):
    return load_unimol(path=folder / "mol_pre_all_h_220816.pt", arch=ARCH, device="cpu", **kw)


def test_layers_shapes_and_determinism(unimol_dir):
    enc = _load(unimol_dir)
    assert isinstance(enc, UniMolEncoder) and enc.num_layers == 4
    for pooling in ("cls", "mean"):
        a, b = enc.embed(SMILES, pooling=pooling), enc.embed(SMILES, pooling=pooling)
        assert len(a) == 5 and a.dims == [32] * 5
        assert all(x.dtype == np.float32 and x.shape == (len(SMILES), 32) for x in a)
        for k in range(5):
            np.testing.assert_array_equal(a[k], b[k])
    assert a.meta["conformer_methods"] == ["etkdg+mmff"] * 4


def test_last_layer_equals_unimol_tools_repr(unimol_dir):
    """CLS and mean-over-atoms of the last layer against unimol-tools' own forward."""
    enc = _load(unimol_dir)
    cls = enc.embed(SMILES, pooling="cls")
    mean = enc.embed(SMILES, pooling="mean")
    from molstrata.data.smiles import parse_smiles

    canon = list(parse_smiles(SMILES).canonical)
    for i, s in enumerate(canon):
        feats, _ = enc.features([s])
        batch, _ = enc.model.batch_collate_fn([(feats[0], None)])
        with torch.no_grad():
            out = enc.model(**batch, return_repr=True, return_atomic_reprs=True)
        np.testing.assert_allclose(cls[4][i], out["cls_repr"][0].numpy(), atol=1e-5)
        n_atoms = feats[0]["src_tokens"].shape[0] - 2
        atoms = out["atomic_reprs"][0].numpy()
        # unimol-tools filters token ids 0, 1, 2 as "BOS, EOS, PAD", but its Dictionary numbers
        # [CLS]=0 [UNK]=1 [PAD]=2 [SEP]=3: its atomic_reprs keep [SEP] as a last extra row.
        assert atoms.shape[0] == n_atoms + 1
        np.testing.assert_allclose(mean[4][i], atoms[:n_atoms].mean(0), atol=1e-5)


def test_truncation_at_load_equals_full_prefix(unimol_dir):
    full = _load(unimol_dir)
    ref = full.embed(SMILES, pooling="mean")
    for cut in (_load(unimol_dir, max_layer=2), full.truncate(2)):
        assert cut.num_layers == 2 and len(cut.model.encoder.layers) == 2
        out = cut.embed(SMILES, pooling="mean")
        assert len(out) == 3
        for k in range(3):
            np.testing.assert_allclose(out[k], ref[k], atol=1e-5)
    with pytest.raises(ConfigError, match="max_layer"):
        _load(unimol_dir, max_layer=5)


def test_heavy_atoms_and_atom_limit(unimol_dir):
    from rdkit import Chem

    heavy = _load(unimol_dir, remove_hs=True)
    states = heavy.token_states(SMILES)
    assert [s.shape for s in states[2]] == [(Chem.MolFromSmiles(s).GetNumAtoms(), 32) for s in SMILES]
    allh = _load(unimol_dir)
    counts = [Chem.AddHs(Chem.MolFromSmiles(s)).GetNumAtoms() for s in SMILES]
    assert [s.shape[0] for s in allh.token_states(SMILES)[0]] == counts
    assert counts == [9, 13, 20, 8]
    small = _load(unimol_dir, max_atoms=8)
    with pytest.warns(UserWarning, match="max_length"):
        emb = small.embed(SMILES)
    assert emb.meta["truncated_rows"] == [0, 1, 2]
    with pytest.warns(UserWarning, match="max_length"):
        states = small.token_states(SMILES)[1]
    assert [s.shape[0] for s in states] == [8, 8, 8, 8]
    from molstrata.encoders.base import InputTooLongError

    with pytest.raises(InputTooLongError, match="row 2"):
        _load(unimol_dir, max_atoms=8, on_too_long="raise").embed(SMILES)


def test_checkpoints_read_safely(unimol_dir, tmp_path):
    import datetime

    torch.save({"model": {}, "extra": datetime.date(2022, 8, 16)}, tmp_path / "evil.pt")
    with pytest.raises(ConfigError, match="trust_checkpoint=True"):
        load_unimol(path=tmp_path / "evil.pt", dict_path=unimol_dir / "mol.dict.txt", arch=ARCH)
    torch.save({"model": {"embed_tokens.weight": torch.zeros(3, 3)}}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="weights missing"):
        load_unimol(path=tmp_path / "other.pt", dict_path=unimol_dir / "mol.dict.txt", arch=ARCH)


def test_registered_card_and_v2_refusal(unimol_dir, monkeypatch, tmp_path):
    from molstrata.encoders.registry import get_card

    monkeypatch.setenv("UNIMOL_WEIGHT_DIR", str(tmp_path))  # an empty weight folder
    card = get_card("unimol-v1")
    assert card.kind == "3d" and card.num_layers == 15 and card.dims == [512] * 16
    assert card.weights_present is False
    monkeypatch.setenv("UNIMOL_WEIGHT_DIR", str(unimol_dir))
    assert get_card("unimol-v1").weights_present is True
    enc = load_encoder("unimol-v1", arch=ARCH, device="cpu")
    assert enc.name == "unimol-v1" and len(enc.embed(["CCO"])) == 5
    card2 = get_card("unimol2-84m")
    assert card2.num_layers == 12 and card2.dims == [768] * 13 and card2.weights_present is False
    from molstrata.core.errors import DataNotFoundError

    with pytest.raises(DataNotFoundError, match="checkpoint.pt"):
        load_encoder("unimol2-84m")


def test_published_v1_architecture_size():
    """The default architecture is Uni-Mol v1's: 15 blocks, 512 wide (random weights)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "mol.dict.txt").write_text("\n".join(SYMBOLS) + "\n")
        enc = load_unimol(dict_path=Path(tmp) / "mol.dict.txt", random_init=True, device="cpu")
        assert enc.num_layers == 15
        emb = enc.embed(["CCO"], pooling="cls")
        assert len(emb) == 16 and emb.dims == [512] * 16


# ------------------------------------------------------------------------------ Uni-Mol2
ARCH2 = dict(num_encoder_layers=3, encoder_embed_dim=32, num_attention_heads=4,
             encoder_attention_heads=4, ffn_embedding_dim=32, pair_embed_dim=16, pair_hidden_dim=8)


@pytest.fixture(scope="module")
def unimol2_ckpt(tmp_path_factory):
    """A small random UniMolV2Model checkpoint in Uni-Core's {'model': state_dict} form."""
    enc = load_unimol("v2", random_init=True, seed=4, arch=ARCH2, device="cpu")
    path = tmp_path_factory.mktemp("unimol2") / "checkpoint.pt"
    torch.save({"model": enc.model.state_dict()}, path)
    return path


def test_v2_layers_match_unimol_tools_and_truncate(unimol2_ckpt):
    from rdkit import Chem

    from molstrata.data.smiles import parse_smiles
    from molstrata.encoders.conformer.unimol import UniMolV2Encoder

    enc = load_unimol("v2", path=unimol2_ckpt, arch=ARCH2, device="cpu")
    assert isinstance(enc, UniMolV2Encoder) and enc.num_layers == 3
    cls, mean = enc.embed(SMILES, pooling="cls"), enc.embed(SMILES, pooling="mean")
    assert len(cls) == 4 and cls.dims == [32] * 4
    again = enc.embed(SMILES, pooling="cls")
    for k in range(4):
        np.testing.assert_array_equal(cls[k], again[k])
    for i, s in enumerate(parse_smiles(SMILES).canonical):
        batch, _ = enc.model.batch_collate_fn([(enc.features([s])[0], None)])
        with torch.no_grad():
            out = enc.model(**batch, return_repr=True, return_atomic_reprs=True)
        np.testing.assert_allclose(cls[3][i], out["cls_repr"][0].numpy(), atol=1e-5)
        atoms = out["atomic_reprs"][0].numpy()
        assert atoms.shape[0] == Chem.MolFromSmiles(s).GetNumAtoms()  # heavy atoms
        np.testing.assert_allclose(mean[3][i], atoms.mean(0), atol=1e-5)
    for cut in (load_unimol("v2", path=unimol2_ckpt, arch=ARCH2, device="cpu", max_layer=2),
                enc.truncate(2)):
        assert cut.num_layers == 2
        short = cut.embed(SMILES, pooling="cls")
        assert len(short) == 3
        for k in range(3):
            np.testing.assert_allclose(short[k], cls[k], atol=1e-5)


def test_2d_fallback_is_reported_by_row(unimol_dir, monkeypatch):
    import os

    from rdkit.Chem import AllChem

    enc = _load(unimol_dir)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # in-process, so the patch below applies
    real = AllChem.EmbedMolecule
    monkeypatch.setattr(AllChem, "EmbedMolecule",
                        lambda mol, params: -1 if mol.GetNumAtoms() == 8 else real(mol, params))
    with pytest.warns(UserWarning, match="rows 3"):
        emb = enc.embed(SMILES)  # row 3 (OC(=O)CCl) has 8 atoms with H
    assert emb.meta["conformer_methods"] == ["etkdg+mmff"] * 3 + ["2d"]


def test_cached_path_runs_the_3d_prelude(unimol_dir, monkeypatch):
    """embed_cached on a 3D encoder makes the conformers with the user's row numbers, records
    conformer_methods and warns about 2D fallbacks, like embed, with the same bytes (#18)."""
    import os

    from rdkit.Chem import AllChem

    from molstrata.embeddings import embed_cached

    enc = _load(unimol_dir)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # in-process, so the patch below applies
    real = AllChem.EmbedMolecule
    monkeypatch.setattr(AllChem, "EmbedMolecule",
                        lambda mol, params: -1 if mol.GetNumAtoms() == 8 else real(mol, params))
    inputs = SMILES[:2] + ["not a smiles"] + SMILES[2:]  # OC(=O)CCl (8 atoms with H) is row 4
    expected = ["etkdg+mmff", "etkdg+mmff", None, "etkdg+mmff", "2d"]
    for computed in (4, 0):  # computed, then read back from the cache
        with pytest.warns(UserWarning, match="rows 4"):
            cached = embed_cached(enc, inputs, on_invalid="mask")
        assert cached.meta["cache"]["computed"] == computed
        assert cached.meta["conformer_methods"] == expected
    with pytest.warns(UserWarning, match="rows 4"):
        plain = enc.embed(inputs, on_invalid="mask")
    assert plain.meta["conformer_methods"] == expected
    for k in range(len(plain)):
        np.testing.assert_array_equal(cached[k], plain[k])
