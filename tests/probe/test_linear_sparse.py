"""Sparse training rows (count fingerprints, e.g. the ECFP4 baseline) take the linear
probe's sparse route (SciPy CSR products, exact integer ``X^T X``; :mod:`molstrata.probe._sparse`),
which gives the dense route's grid scores, choices and coefficients to round-off (ridge) or to
the solver's tolerance (logistic)."""

from __future__ import annotations

import numpy as np
import pytest

import molstrata.probe._logistic as logistic_mod
import molstrata.probe._rows as rows_mod
import molstrata.probe.linear as linear_mod
from molstrata.probe.linear import LinearProbe


def _counts(n: int, d: int, seed: int) -> np.ndarray:
    """Count-fingerprint-like rows (n, d): ~3 % nonzeros, small integer counts."""
    rng = np.random.default_rng(seed)
    X = rng.poisson(1.5, size=(n, d)).astype(np.float32) * (rng.random((n, d)) < 0.03)
    return X


@pytest.mark.parametrize("task_type", ["regression", "classification"])
@pytest.mark.parametrize("n", [900, 300])  # covariance route (n >= d) and Gram route (n < d)
def test_sparse_route_matches_dense_route(task_type, n, monkeypatch):
    d = 600
    X = _counts(n + 150, d, seed=n)
    w = np.random.default_rng(1).normal(size=d)
    y = X @ w + np.random.default_rng(2).normal(size=n + 150)
    if task_type == "classification":
        y = (y > np.median(y)).astype(np.float64)
    Xtr, Xva, ytr, yva = X[:n], X[n:], y[:n], y[n:]
    assert linear_mod._Basis(Xtr[None])._sparse_t is not None  # the sparse route is taken
    sparse = LinearProbe(task_type=task_type).fit([Xtr], ytr, [Xva], yva)
    monkeypatch.setattr(rows_mod, "SPARSE_DENSITY", -1.0)  # never sparse
    # the dense route's float64 solver and basis (its float32 products and covariance stop
    # elsewhere within tol: compared with the oracle in test_logistic_mixed.py)
    monkeypatch.setattr(logistic_mod, "MIXED_PRECISION", False)
    monkeypatch.setattr(linear_mod, "FAST_EIGH_WIDTH", 10**9)
    assert linear_mod._Basis(Xtr[None])._sparse_t is None
    dense = LinearProbe(task_type=task_type).fit([Xtr], ytr, [Xva], yva)
    assert sparse.best_index_.tolist() == dense.best_index_.tolist()
    if task_type == "regression":
        np.testing.assert_allclose(sparse.valid_grid_scores_, dense.valid_grid_scores_, rtol=1e-9, atol=0)
        np.testing.assert_allclose(sparse.coef_[0], dense.coef_[0], rtol=1e-7, atol=1e-10)
    else:
        np.testing.assert_allclose(sparse.valid_grid_scores_, dense.valid_grid_scores_, rtol=0, atol=1e-6)
        np.testing.assert_allclose(sparse.coef_[0], dense.coef_[0], rtol=0, atol=1e-4)
    # the sparse route's logistic fits take the two-precision solver (a float32 phase stops
    # elsewhere within tol; session 31), so its probabilities agree to ~1e-6, not closer
    atol = 1e-6 if task_type == "regression" else 1e-5
    np.testing.assert_allclose(sparse.predict([Xva]), dense.predict([Xva]), rtol=0, atol=atol)


def test_dense_embeddings_never_take_the_sparse_route():
    rng = np.random.default_rng(0)
    assert linear_mod._Basis(rng.normal(size=(1, 50, 600)))._sparse_t is None  # dense
    assert linear_mod._Basis(_counts(50, 256, 0)[None])._sparse_t is None  # narrow


def test_wide_logistic_fits_in_float32_eigenbasis_match_the_float64_one(monkeypatch):
    """Logistic fits on >= FAST_EIGH_WIDTH features eigendecompose in float32: same choice,
    grid scores within the issue's 1e-4 of the metric, predictions to ~1e-6."""
    n, d = 1500, 1100
    X = _counts(n + 300, d, seed=5)
    y = (X @ np.random.default_rng(6).normal(size=d) + np.random.default_rng(7).normal(size=n + 300) > 0)
    y = y.astype(np.float64)
    fast = LinearProbe(task_type="classification").fit([X[:n]], y[:n], [X[n:]], y[n:])
    monkeypatch.setattr(linear_mod, "FAST_EIGH_WIDTH", 10**9)
    exact = LinearProbe(task_type="classification").fit([X[:n]], y[:n], [X[n:]], y[n:])
    assert fast.best_index_.tolist() == exact.best_index_.tolist()
    np.testing.assert_allclose(fast.valid_grid_scores_, exact.valid_grid_scores_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(fast.predict([X[n:]]), exact.predict([X[n:]]), rtol=0, atol=1e-5)
