"""Issue 22, the ECFP4 baseline's cells made cheaper (:mod:`molstrata.probe._sparse`): the linear
probe on sparse count rows agrees with exact references within the issue's tolerances (ridge
grid scores within 1e-9 relative, logistic within 1e-4 of the metric, the same choices), and
the check fails on broken variants."""

from __future__ import annotations

import numpy as np
import pytest

import molstrata.probe._sparse as sparse_mod
from molstrata.probe.linear import LinearProbe


def _counts(n: int, d: int, seed: int) -> np.ndarray:
    """Count-fingerprint-like rows (n, d) float32: ~3 % nonzeros, small integer counts, and two
    columns that are constant on every row (zero variance)."""
    rng = np.random.default_rng(seed)
    X = (rng.poisson(1.5, size=(n, d)) * (rng.random((n, d)) < 0.03)).astype(np.float32)
    X[:, :2] = 0.0
    return X


def _problem(n: int, d: int, seed: int, classification: bool):
    """n training rows and 600 validation rows (a ranking of 600 moves by one swapped pair in
    ~1e-5 of ROC-AUC, well within the tolerance)."""
    X = _counts(n + 600, d, seed)
    y = X @ np.random.default_rng(seed + 1).normal(size=d) + np.random.default_rng(seed + 2).normal(size=n + 600)
    if classification:
        y = (y > np.median(y)).astype(np.float64)
    return X[:n], y[:n], X[n:], y[n:]


def _standardised(Xtr: np.ndarray, X: np.ndarray) -> np.ndarray:
    """X standardised on Xtr's statistics (``StandardScaler``: ddof 0, zero scale -> 1), float64."""
    Xtr = Xtr.astype(np.float64)
    scale = Xtr.std(axis=0)
    scale[scale == 0] = 1.0
    return (X.astype(np.float64) - Xtr.mean(axis=0)) / scale


def _check_ridge(Xtr, ytr, Xva, yva) -> None:
    """The probe's ridge grid against a dense float64 solve of every alpha (the normal
    equations on standardised features): MAE of every grid point within 1e-9 relative, the
    same alpha chosen, coefficients to 1e-7 relative."""
    probe = LinearProbe().fit([Xtr], ytr, [Xva], yva)
    Xs, Xv = _standardised(Xtr, Xtr), _standardised(Xtr, Xva)
    G, c = Xs.T @ Xs, Xs.T @ (ytr - ytr.mean())
    W = np.stack([np.linalg.solve(G + a * np.eye(G.shape[0]), c) for a in probe.grid_], axis=1)
    mae = np.abs(Xv @ W + ytr.mean() - yva[:, None]).mean(axis=0)
    np.testing.assert_allclose(probe.valid_grid_scores_[0], mae, rtol=1e-9, atol=0)
    assert int(probe.best_index_[0]) == int(np.argmin(mae))
    np.testing.assert_allclose(probe.coef_[0], W[:, probe.best_index_[0]], rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("n", [900, 300])  # the covariance (n >= d) and the Gram (n < d) routes
def test_sparse_ridge_matches_a_dense_float64_solve(n):
    Xtr, ytr, Xva, yva = _problem(n, 600, seed=n, classification=False)
    assert sparse_mod.sparse_ridge_probe(Xtr[None].astype(np.float64), ytr, np.ones(1)) is not None
    _check_ridge(Xtr, ytr, Xva, yva)


@pytest.mark.parametrize("n", [900, 300])
def test_the_ridge_check_fails_without_standardisation(n, monkeypatch):
    """A broken variant, the raw counts (scale 1: alpha would not mean scikit-learn's alpha on
    ``StandardScaler`` features), must fail the check."""
    Xtr, ytr, Xva, yva = _problem(n, 600, seed=n, classification=False)
    real = sparse_mod._standardise
    monkeypatch.setattr(sparse_mod, "_standardise", lambda xt, m: (real(xt, m)[0], np.ones(xt.shape[0])))
    with pytest.raises(AssertionError):
        _check_ridge(Xtr, ytr, Xva, yva)


def _check_logistic(Xtr, ytr, Xva, yva, tol: float = 1e-6) -> None:
    """The probe's logistic grid against scikit-learn (``StandardScaler`` +
    ``LogisticRegression(C)``, newton-cg to a tight tolerance): ROC-AUC of every grid point
    within 1e-4, the same C chosen."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    probe = LinearProbe(task_type="classification", tol=tol).fit([Xtr], ytr, [Xva], yva)
    Xs, Xv = _standardised(Xtr, Xtr), _standardised(Xtr, Xva)
    auc = np.array([roc_auc_score(yva, LogisticRegression(C=C, solver="newton-cg", tol=1e-10, max_iter=1000)
                                  .fit(Xs, ytr).decision_function(Xv)) for C in probe.grid_])
    np.testing.assert_allclose(probe.valid_grid_scores_[0], auc, rtol=0, atol=1e-4)
    assert int(probe.best_index_[0]) == int(np.argmax(auc))


@pytest.mark.parametrize("n", [900, 300])
def test_sparse_logistic_matches_scikit_learn(n):
    Xtr, ytr, Xva, yva = _problem(n, 600, seed=n + 10, classification=True)
    _check_logistic(Xtr, ytr, Xva, yva)


def test_the_logistic_check_fails_on_a_loose_solver():
    """A broken variant, a solver stopped early (tol 1e-2 on the mean loss's gradient), must
    fail the check."""
    Xtr, ytr, Xva, yva = _problem(900, 600, seed=910, classification=True)
    with pytest.raises(AssertionError):
        _check_logistic(Xtr, ytr, Xva, yva, tol=1e-2)
