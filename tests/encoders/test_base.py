"""The Encoder base flow on a transparent fake encoder whose states are computable by hand:
bucketing restores order, token budget, OOM halving, invalid rows, fuzzing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molstrata.core.errors import ConfigError, InvalidSmilesError
from molstrata.data.smiles import parse_smiles
from molstrata.encoders.base import BatchStates, Encoder
from molstrata.encoders.flow import iter_batches


class CharEncoder(Encoder):
    """Token t of string s at layer k has state [ord(s[t]) * (k + 1), t, len(s)].

    Two layers (num_layers=1). A leading special token (state all -1) is masked out.
    ``fail_above``: raise an out-of-memory error for batches larger than this.
    """

    name = "char"
    num_layers = 1

    def __init__(self, fail_above: int | None = None):
        self.fail_above = fail_above
        self.batches: list[list[str]] = []

    def _sizes(self, smiles):
        return np.asarray([len(s) + 1 for s in smiles], dtype=np.int64)

    def _forward(self, smiles):
        if self.fail_above is not None and len(smiles) > self.fail_above:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        self.batches.append(list(smiles))
        T = max(len(s) for s in smiles) + 1
        B = len(smiles)
        hidden = []
        for k in range(2):
            h = torch.zeros(B, T, 3)
            for b, s in enumerate(smiles):
                h[b, 0] = -1.0
                for t, c in enumerate(s):
                    h[b, t + 1] = torch.tensor([ord(c) * (k + 1), t, len(s)], dtype=torch.float32)
            hidden.append(h)
        mask = torch.zeros(B, T, dtype=torch.bool)
        special = torch.zeros(B, T, dtype=torch.bool)
        for b, s in enumerate(smiles):
            mask[b, 1 : len(s) + 1] = True
            special[b, 0] = True
        return BatchStates(hidden=hidden, mask=mask, special=special)


def hand_mean(s: str, k: int) -> np.ndarray:
    codes = np.array([ord(c) for c in s], dtype=np.float64) * (k + 1)
    return np.array([codes.mean(), (len(s) - 1) / 2, len(s)])


SMILES = ["CCCCCCCCCC", "C", "c1ccccc1", "CCO", "CC(=O)Oc1ccccc1C(=O)O", "N", "CCN(CC)CC", "O=C=O"]


def test_bucketing_restores_input_order():
    enc = CharEncoder()
    emb = enc.embed(SMILES, batch_size=3)
    canon = parse_smiles(SMILES).canonical
    for i, s in enumerate(canon):
        for k in range(2):
            np.testing.assert_allclose(emb[k][i], hand_mean(s, k), rtol=1e-6)
    # batches were formed by increasing length, not input order
    lengths = [len(s) for b in enc.batches for s in b]
    assert lengths == sorted(lengths)
    assert emb.smiles == tuple(SMILES)


def test_poolings_by_hand():
    enc = CharEncoder()
    s = "CCO"
    codes = np.array([ord(c) for c in s], dtype=np.float32)
    assert np.allclose(enc.embed([s], pooling="max")[1][0], [codes.max() * 2, 2, 3])
    assert np.allclose(enc.embed([s], pooling="sum")[0][0], [codes.sum(), 3, 9])
    assert np.allclose(enc.embed([s], pooling="cls")[0][0], [-1, -1, -1])
    with_special = enc.embed([s], pooling="mean", include_special=True)[0][0]
    assert np.allclose(with_special, (np.array([codes.sum(), 3, 9]) - 1) / 4)


def test_token_budget_bounds_padded_positions():
    enc = CharEncoder()
    many = [("C" * (1 + i % 17)) for i in range(60)]
    sizes = enc._sizes(many)
    seen = 0
    for rows, _ in iter_batches(enc, many, token_budget=40):
        assert len(rows) == 1 or len(rows) * sizes[rows].max() <= 40
        seen += len(rows)
    assert seen == 60
    with pytest.raises(ConfigError, match="batch_size"):
        list(iter_batches(enc, many, batch_size=0))


def test_oom_halves_the_batch_and_keeps_results():
    enc = CharEncoder(fail_above=2)
    emb = enc.embed(SMILES, batch_size=8)
    assert max(len(b) for b in enc.batches) <= 2
    ref = CharEncoder().embed(SMILES, batch_size=8)
    for a, b in zip(emb, ref, strict=True):
        np.testing.assert_array_equal(a, b)


def test_invalid_rows_raise_with_indices_or_mask_without_shifting():
    enc = CharEncoder()
    bad = ["CCO", "not a smiles", "c1ccccc1", "C1CC", ""]
    with pytest.raises(InvalidSmilesError, match="row 1") as info:
        enc.embed(bad)
    assert info.value.indices == [1, 3, 4]
    emb = enc.embed(bad, on_invalid="mask")
    assert emb.valid.tolist() == [True, False, True, False, False]
    assert np.isnan(emb[1][[1, 3, 4]]).all()
    np.testing.assert_allclose(emb[1][2], hand_mean("c1ccccc1", 1), rtol=1e-6)
    assert emb.meta["invalid_rows"] == [1, 3, 4]


def test_token_states_order_and_canonicalize_flag():
    enc = CharEncoder()
    out = enc.token_states(["OCC", "C", "c1ccccc1"], batch_size=2)
    assert [x.shape for x in out[0]] == [(3, 3), (1, 3), (8, 3)]
    assert out[1][0][:, 0].tolist() == [ord(c) * 2 for c in "CCO"]  # canonical
    raw = enc.token_states(["OCC"], canonicalize=False)
    assert raw[0][0][:, 0].tolist() == [ord(c) for c in "OCC"]


def test_progress_bar_runs(capsys):
    emb = CharEncoder().embed(SMILES, progress=True)
    assert len(emb) == 2


def test_unknown_pooling_names_choices():
    with pytest.raises(ConfigError, match="'mean'"):
        CharEncoder().embed(["C"], pooling="median")


_ALPHABET = st.sampled_from(list("CNOcn()=#123[]+-@H.lBr ") + ["Cl", "Br", "\u00e9", "\x00"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_ALPHABET, max_size=12).map("".join), min_size=1, max_size=12))
def test_fuzz_random_strings_never_crash_or_misalign(strings):
    enc = CharEncoder()
    emb = enc.embed(strings, on_invalid="mask", batch_size=3)
    parsed = parse_smiles(strings, on_invalid="mask")
    assert emb.valid.tolist() == parsed.valid.tolist()
    assert emb.smiles == tuple(strings)
    for i, ok in enumerate(parsed.valid):
        if ok:
            np.testing.assert_allclose(emb[0][i], hand_mean(parsed.canonical[i], 0), rtol=1e-6)
        else:
            assert np.isnan(emb[0][i]).all() and np.isnan(emb[1][i]).all()
