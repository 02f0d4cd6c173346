"""GINE graph encoder: features, per-layer pooling checked against a direct forward, truncation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from molstrata.core.errors import ConfigError, InvalidSmilesError
from molstrata.encoders.graph.gin import GINE, GraphEncoder
from molstrata.encoders.graph.graph_features import ATOM_DIM, BOND_DIM, smiles_to_graph

SMILES = ["CCO", "c1ccccc1O", "C[N+](C)(C)C.[Cl-]", "N#CC(=O)N[C@@H](C)C(=O)O"]


def _encoder(n_layers=3, hidden=16):
    torch.manual_seed(0)
    return GraphEncoder(GINE(hidden=hidden, num_layers=n_layers), name="t", device="cpu")


def test_features_shapes_and_bonds():
    g = smiles_to_graph("c1ccccc1O")
    assert g.x.shape == (7, ATOM_DIM)
    assert g.edge_index.shape == (2, 14) and g.edge_attr.shape == (14, BOND_DIM)
    # one-hot blocks: every atom has exactly one element slot set
    assert torch.all(g.x[:, :16].sum(1) == 1)
    with pytest.raises(InvalidSmilesError):
        smiles_to_graph("C1CC", index=3)


@pytest.mark.parametrize("pooling", ["mean", "sum", "max"])
def test_layers_equal_direct_forward_pooled(pooling):
    enc = _encoder()
    emb = enc.embed(SMILES, pooling=pooling)
    assert len(emb.layers) == enc.num_layers + 1 == 4
    for i, s in enumerate(SMILES):
        from rdkit import Chem

        g = smiles_to_graph(Chem.MolToSmiles(Chem.MolFromSmiles(s)))
        with torch.no_grad():
            states = enc.module(g.x, g.edge_index, g.edge_attr)
        for k, h in enumerate(states):
            ref = {"mean": h.mean(0), "sum": h.sum(0), "max": h.max(0).values}[pooling].numpy()
            np.testing.assert_allclose(emb.layers[k][i], ref, rtol=1e-5, atol=1e-5)


def test_cls_is_refused_and_invalid_rows_masked():
    enc = _encoder()
    with pytest.raises(ConfigError, match="cls"):
        enc.embed(SMILES, pooling="cls")
    emb = enc.embed(["CCO", "not-a-smiles", "CCN"], on_invalid="mask")
    assert emb.valid.tolist() == [True, False, True]
    assert np.isnan(emb.layers[2][1]).all() and np.isfinite(emb.layers[2][[0, 2]]).all()


def test_truncate_keeps_first_layers_and_module():
    enc = _encoder()
    full = enc.embed(SMILES)
    short = enc.truncate(1)
    assert short.num_layers == 1 and short.module.num_layers == 1
    part = short.embed(SMILES)
    assert len(part.layers) == 2
    for k in range(2):
        np.testing.assert_allclose(part.layers[k], full.layers[k], rtol=1e-6, atol=1e-6)
    with pytest.raises(ConfigError):
        enc.truncate(7)
