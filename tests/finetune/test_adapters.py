"""Truncation and gradients through the real adapters: HF transformers and the GINE graph net."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from molstrata.data.smiles import canonicalize
from molstrata.finetune import build_model

SMILES = [canonicalize(s) for s in ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "OC(=O)CCl", "C#N"]]


@pytest.fixture
def hf_encoder(tiny_roberta_dir):
    from molstrata.encoders import load_encoder

    return load_encoder(str(tiny_roberta_dir), device="cpu")


@pytest.fixture
def gin_encoder():
    from molstrata.encoders.graph.gin import GINE, GraphEncoder

    torch.manual_seed(0)
    return GraphEncoder(GINE(hidden=32, num_layers=3), name="tiny-gine", device="cpu")


@pytest.mark.parametrize("adapter", ["hf_encoder", "gin_encoder"])
@pytest.mark.parametrize("k", [1, 2])
def test_truncated_output_equals_full_layer_k(adapter, k, request):
    enc = request.getfixturevalue(adapter)
    expected = enc.embed(SMILES)[k]  # full model, layer k, through the embedding core
    model = build_model(enc, k).eval()
    assert model.encoder.num_layers == k  # physically cut
    with torch.no_grad():
        got = model.features(SMILES).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    full = build_model(enc, enc.num_layers)
    assert model.n_parameters() < full.n_parameters()


@pytest.mark.parametrize("adapter", ["hf_encoder", "gin_encoder"])
def test_gradients_reach_the_first_block(adapter, request):
    enc = request.getfixturevalue(adapter)
    model = build_model(enc, 2).train()
    model(SMILES).pow(2).sum().backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in grads) > len(grads) // 2


def test_too_long_molecules_are_reported(hf_encoder):
    from molstrata.finetune import Dataset
    from molstrata.finetune.sweep import _warn_too_long

    long = "C" * 100  # 100 atom tokens > max_length 64
    parts = {"train": Dataset(("CCO", long), np.zeros(2)), "test": Dataset((long,), np.zeros(1))}
    with pytest.warns(UserWarning, match="1 train, 1 test molecules are longer than"):
        _warn_too_long(hf_encoder, "t", parts)
