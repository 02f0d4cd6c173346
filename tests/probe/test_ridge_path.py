"""The CV's ridge grid from one tridiagonal reduction (:mod:`molstrata.probe.ridge_path`, issue
22): equal to independent solvers to round-off, on two real TDC tasks' rows, and CV caches of
other numerics are recomputed."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fingerprint_layers import morgan_layers
from molstrata.data import load_task
from molstrata.probe import cv
from molstrata.probe._numerics import NUMERICS
from molstrata.probe.ridge_path import gram, ridge_grid, ridge_grid_np
from molstrata.probe.strategies import coarse_grid


def test_ridge_grid_solves_each_alpha():
    """(G + alpha I) w = c for an ill-conditioned PSD G, a 1 x 1 one and an indefinite one
    (the pivoted fallback), against numpy's dense solve."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(300, 40)) @ np.diag(np.logspace(0, -4, 40))
    cases = [A.T @ A * 300, np.array([[2.0]]), np.diag([-1.0, 2.0, 3.0])]  # eigenvalue -1 < -alpha
    for G in cases:
        d = G.shape[0]
        c = rng.normal(size=d)
        alphas = np.array([0.1, 1.0, 1e3]) if d > 3 else np.array([0.5, 4.0])
        got = ridge_grid_np(G.copy(), c, alphas)
        want = np.stack([np.linalg.solve(G + a * np.eye(d), c) for a in alphas], axis=1)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())


def test_gram_is_exactly_symmetric_and_equals_the_product():
    import torch

    X = torch.from_numpy(np.random.default_rng(1).normal(size=(3, 50, 7)))
    G = gram(X)
    assert torch.equal(G, G.transpose(1, 2))
    np.testing.assert_allclose(G.numpy(), (X.transpose(1, 2) @ X).numpy(), rtol=1e-12)


def _features(smiles: list[str]) -> list[np.ndarray]:
    """Two 'layers' of real molecules (96 columns, float64)."""
    return morgan_layers(smiles, 96)


@pytest.mark.parametrize("task", ["caco2_wang", "hia_hou"])
def test_cv_pair_predictions_match_scikit_learn_on_real_tasks(task, data_dir):
    """Every fold pair's held-out predictions of every alpha of the CV's grid (regression;
    ridge on the 0/1 labels for the classification task) equal scikit-learn's
    StandardScaler + Ridge fit on the same rows, within 1e-9 relative."""
    split = load_task(task, seed=1, data_dir=data_dir)
    smiles = split.smiles("train") + split.smiles("valid")
    y = np.concatenate([split.y("train"), split.y("valid")])
    X = _features(smiles)
    folds = cv.scaffold_folds(cv.scaffold_group_ids(smiles), 5, seed=1)
    grid = np.asarray(coarse_grid(None, "linear", "regression")["alphas"])
    pairs = cv._linear_pair_grids(X, y, folds, 5, classification=False, grid=grid, tol=1e-3, max_iter=1)
    n_checked = 0
    for a, b, pa, pb in pairs:
        train = ~np.isin(folds, [a, b])
        for j, x in enumerate(X):
            for i, alpha in enumerate(grid):
                pipe = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(x[train], y[train])
                for held, got in ((a, pa), (b, pb)):
                    want = pipe.predict(x[folds == held])
                    np.testing.assert_allclose(got[j, :, i], want, rtol=1e-9,
                                               atol=1e-9 * np.abs(want).max())
                    n_checked += want.size
    assert n_checked == 2 * len(X) * grid.size * y.size


def test_cv_cache_of_other_numerics_is_recomputed(tmp_path, monkeypatch, data_dir):
    """A cached CV result written by other numerics (no version, or another one) is not
    reused: the CV runs again and rewrites it with this version."""
    from molstrata.core.embeddings import LayerEmbeddings
    from molstrata.probe import strategies
    from molstrata.probe._probe import fit_layers, prepare

    split = load_task("caco2_wang", seed=1, data_dir=data_dir)
    smiles = split.smiles("train") + split.smiles("valid") + split.smiles("test")
    emb = LayerEmbeddings(layers=tuple(x.astype(np.float32) for x in _features(smiles)),
                          valid=np.ones(len(smiles), bool), smiles=tuple(smiles), encoder="fp")
    data = prepare(emb, split)
    cells = fit_layers(data, model="linear", task_type="regression", metric="mae", seed=1)
    kw = {"selections": "cv", "task_type": "regression", "metric": "mae", "seed": 1,
          "cache_dir": tmp_path}
    strategies.choose(data, cells, **kw)
    path = tmp_path / "cv_k5.npz"
    with np.load(path) as z:
        saved = {k: z[k] for k in z.files}
    assert str(saved["numerics"]) == NUMERICS
    calls = []
    real = strategies.cross_validate
    monkeypatch.setattr(strategies, "cross_validate", lambda *a, **k: calls.append(1) or real(*a, **k))
    strategies.choose(data, cells, **kw)
    assert calls == []  # same numerics: reused
    for old in ({k: v for k, v in saved.items() if k != "numerics"}, {**saved, "numerics": np.array("1")}):
        np.savez(path, **old)
        strategies.choose(data, cells, **kw)
        with np.load(path) as z:
            assert str(z["numerics"]) == NUMERICS
    assert calls == [1, 1]


def test_ridge_grid_keeps_the_device_of_its_input():
    import torch

    G = torch.eye(4, dtype=torch.float64)[None] * 2.0
    c = torch.ones((1, 4, 1), dtype=torch.float64)
    W = ridge_grid(G, c, np.array([1.0, 3.0]))
    assert W.device == G.device and W.shape == (1, 4, 2)
    np.testing.assert_allclose(W[0].numpy(), np.array([[1 / 3, 1 / 5]] * 4))
