"""Randomised SMILES and the augmentation hook."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from molstrata.analysis import augmented_views, randomized_smiles
from molstrata.core.errors import ConfigError, InvalidSmilesError


def test_randomized_smiles_are_seeded_and_the_same_molecule():
    smi = ["CCOc1ccccc1N", "CC(=O)Oc1ccccc1C(=O)O"]
    a = randomized_smiles(smi, 6, seed=3)
    assert a == randomized_smiles(smi, 6, seed=3)
    assert a != randomized_smiles(smi, 6, seed=4)
    for s, views in zip(smi, a, strict=True):
        assert len(views) == 6
        canon = Chem.MolToSmiles(Chem.MolFromSmiles(s))
        assert {Chem.MolToSmiles(Chem.MolFromSmiles(v)) for v in views} == {canon}
        assert len(set(views)) > 1  # actually different spellings


def test_randomized_smiles_rejects_invalid_rows_by_index():
    with pytest.raises(InvalidSmilesError, match="row 1"):
        randomized_smiles(["CCO", "C1CC"], 2)


def test_sequence_encoder_views_differ(toy_encoder, small_smiles):
    aug, notes = augmented_views(toy_encoder, small_smiles[:10], n_views=3, seed=0)
    assert aug.kind == "random_smiles"
    assert not aug.identical
    assert len(aug.layers) == toy_encoder.num_layers + 1
    assert aug.layers[0].shape == (10, 3, 16)
    assert any("assumed a sequence encoder" in n for n in notes)


class _Canonicalising:
    """Wraps an encoder and canonicalises whatever it is fed: like a graph encoder."""

    def __init__(self, inner):
        self.inner, self.name, self.num_layers = inner, "graph-like", inner.num_layers

    def embed(self, smiles, **kw):
        kw["canonicalize"] = True
        return self.inner.embed(smiles, **kw)


def test_views_identical_for_an_encoder_that_ignores_smiles_order(toy_encoder, small_smiles):
    aug, notes = augmented_views(_Canonicalising(toy_encoder), small_smiles[:6], n_views=3)
    assert aug.identical
    assert any("identical embeddings" in n for n in notes)


class _MaskingEncoder(_Canonicalising):
    """Declares atom masking and implements the hook with seeded noise."""

    augmentations = ("atom_mask",)

    def embed_augmented(self, smiles, *, kind, seed, pooling):
        assert kind == "atom_mask"
        emb = self.inner.embed(smiles, pooling=pooling)
        g = np.random.default_rng(seed)
        layers = tuple(z + 0.01 * g.normal(size=z.shape).astype(np.float32) for z in emb)
        return type(emb)(layers=layers, valid=emb.valid, smiles=emb.smiles, encoder=self.name)


def test_declared_hook_is_used_and_unsupported_kinds_are_refused(toy_encoder, small_smiles):
    enc = _MaskingEncoder(toy_encoder)
    aug, _ = augmented_views(enc, small_smiles[:5], n_views=4, seed=1)
    assert aug.kind == "atom_mask" and not aug.identical
    assert aug.layers[2].shape == (5, 4, 16)
    with pytest.raises(ConfigError, match="supported: atom_mask"):
        augmented_views(enc, small_smiles[:5], augmentation="random_smiles")


class _HalfInvariant(_Canonicalising):
    """Canonicalises molecules without a ring (views identical), passes ring SMILES as is."""

    def embed(self, smiles, **kw):
        from rdkit import Chem

        fixed = [s if any(ch.isdigit() for ch in s) else Chem.MolToSmiles(Chem.MolFromSmiles(s))
                 for s in smiles]
        kw["canonicalize"] = False
        return self.inner.embed(fixed, **kw)


def test_partly_invariant_encoders_are_flagged_with_the_fraction(toy_encoder):
    smi = ["CCO", "CCN", "CCCC", "CC(C)O", "c1ccccc1O"]  # 4 of 5 without a ring
    aug, notes = augmented_views(_HalfInvariant(toy_encoder), smi, n_views=3, seed=0)
    assert not aug.identical
    assert aug.frac_identical == pytest.approx(0.8)
    assert any("identical for 80% of the molecules" in n for n in notes)
