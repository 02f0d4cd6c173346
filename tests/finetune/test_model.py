"""Truncation and head: the truncated model is the full model's layer k, and smaller."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from molstrata.core.errors import ConfigError
from molstrata.data.smiles import canonicalize
from molstrata.finetune import FinetuneModel, HeadConfig, build_model, make_head, truncate

# canonical already: the model is fed canonical SMILES, as the embedding core feeds them
SMILES = [canonicalize(s) for s in
          ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C1CCN(CC1)C(=O)c1ccncc1", "O=C(O)CCl"]]


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_truncated_features_equal_full_model_layer_k(tiny_encoder, k, pooling):
    full = tiny_encoder.embed(SMILES, pooling=pooling)[k]  # (5, 32), the embedding core's path
    model = build_model(tiny_encoder, k, pooling=pooling).eval()
    with torch.no_grad():
        feats = model.features(SMILES).numpy()
    assert feats.shape == full.shape == (len(SMILES), 32)
    np.testing.assert_allclose(feats, full, rtol=0, atol=1e-6)


def test_truncated_features_equal_raw_hidden_states(tiny_encoder):
    """Independent of the embedding core: masked mean of HF's own hidden_states[k]."""
    from finetune_tiny import VOCAB

    k = 2
    ids = torch.tensor([[0] + [VOCAB[c] for c in "CCO"] + [2]])
    with torch.no_grad():
        hs = tiny_encoder.model(input_ids=ids, output_hidden_states=True).hidden_states
        expected = hs[k][0, 1:-1].mean(0)  # content tokens only, no <s> </s>
        got = build_model(tiny_encoder, k).eval().features(["CCO"])[0]
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_truncated_model_drops_blocks_and_parameters(tiny_encoder):
    full = build_model(tiny_encoder, 3)
    per_block = sum(p.numel() for p in tiny_encoder.model.encoder.layer[0].parameters())
    for k in (1, 2):
        cut = build_model(tiny_encoder, k)
        assert len(cut.backbone.encoder.layer) == k  # the blocks above do not exist
        assert full.n_parameters() - cut.n_parameters() == (3 - k) * per_block
    assert len(full.backbone.encoder.layer) == 3


def test_forward_cost_scales_linearly_with_depth():
    """FLOPs (a machine-independent stand-in for time) grow by one block per layer kept."""
    from finetune_tiny import TinyRoberta, tiny_roberta

    enc = TinyRoberta(tiny_roberta(n_layers=4, hidden=32, seed=0))
    flops = []
    for k in (1, 2, 3, 4):
        model = build_model(enc, k).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(SMILES)
        flops.append(counter.get_total_flops())
    steps = np.diff(flops)
    assert (steps > 0).all()
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)  # exactly one block per step
    assert flops[1] <= 0.6 * flops[3]  # L/2 costs at most 0.6x the full model


def test_truncate_rejects_out_of_range_depth(tiny_encoder):
    for bad in (0, 4, -1):
        with pytest.raises(ConfigError, match="valid depths are 1..3"):
            truncate(tiny_encoder, bad)
    assert truncate(tiny_encoder, 3) is tiny_encoder


def test_default_head_is_the_papers():
    head = make_head(32, 1)
    kinds = [type(m) for m in head]
    assert kinds == [nn.Dropout, nn.Linear, nn.SiLU, nn.Dropout, nn.Linear]
    assert head[0].p == head[3].p == 0.1
    assert (head[1].in_features, head[1].out_features) == (32, 256)
    assert (head[4].in_features, head[4].out_features) == (256, 1)
    linear = make_head(32, 2, HeadConfig(hidden=0, dropout=0.0))
    assert [type(m) for m in linear] == [nn.Dropout, nn.Linear]
    with pytest.raises(ConfigError, match="activation"):
        HeadConfig(activation="swish2")


def test_model_output_shape_and_gradients_reach_encoder(tiny_encoder):
    model = build_model(tiny_encoder, 2)
    model.train()
    out = model(SMILES)
    assert out.shape == (len(SMILES), 1)
    out.sum().backward()
    grads = [p.grad for p in model.backbone.encoder.layer[0].parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_untruncatable_adapter_falls_back_with_warning(tiny_encoder, monkeypatch):
    from molstrata.encoders.base import Encoder

    monkeypatch.setattr(type(tiny_encoder), "truncate", Encoder.truncate)
    with pytest.warns(UserWarning, match="reads layer 2 of the full model"):
        model = build_model(tiny_encoder, 2).eval()
    assert isinstance(model, FinetuneModel) and model.layer == 2
    expected = tiny_encoder.embed(SMILES)[2]
    with torch.no_grad():
        np.testing.assert_allclose(model.features(SMILES).numpy(), expected, atol=1e-6)
