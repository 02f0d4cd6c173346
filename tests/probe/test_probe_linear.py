"""The batched linear probes against scikit-learn at equal hyperparameters."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mean_absolute_error, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from molstrata.core.errors import ConfigError, NotFittedError
from molstrata.probe import LinearProbe


def _layers(rng, n, dims, offset=3.0):
    return [(rng.normal(size=(n, d)) * rng.uniform(0.1, 5, size=d) + offset).astype(np.float32) for d in dims]


@pytest.mark.parametrize("n_train,dims", [(150, (5, 20, 20)), (30, (40, 40, 12))])  # n>d and n<d routes
@pytest.mark.parametrize("alpha", [0.1, 3.0, 1000.0])
def test_ridge_matches_sklearn(n_train, dims, alpha):
    rng = np.random.default_rng(0)
    X = _layers(rng, n_train + 25, dims)
    y = X[1][:, 0] - 0.5 * X[1][:, 2] + rng.normal(size=n_train + 25)
    tr, va = [x[:n_train] for x in X], [x[n_train:] for x in X]
    p = LinearProbe(alphas=[alpha]).fit(tr, y[:n_train], va, y[n_train:])
    pred = p.predict(va)
    assert pred.shape == (len(dims), 25)
    for k in range(len(dims)):
        # sklearn on float64 copies (it keeps float32 inputs in float32)
        sk = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(tr[k].astype(np.float64), y[:n_train])
        sk_pred = sk.predict(va[k].astype(np.float64))
        np.testing.assert_allclose(pred[k], sk_pred, atol=1e-6, rtol=0)
        np.testing.assert_allclose(p.coef_[k], sk[-1].coef_, atol=1e-6, rtol=1e-6)
        assert p.valid_scores_[k] == pytest.approx(mean_absolute_error(y[n_train:], sk_pred), abs=1e-9)


@pytest.mark.parametrize("n_train,dims", [(200, (6, 15)), (40, (60, 60))])
@pytest.mark.parametrize("C", [1e-3, 0.1, 3.0])
def test_logistic_matches_sklearn(n_train, dims, C):
    rng = np.random.default_rng(1)
    X = _layers(rng, n_train + 30, dims)
    y = ((X[0][:, 0] - X[0][:, 0].mean()) / X[0][:, 0].std() + rng.normal(size=n_train + 30) > 0).astype(float)
    tr, va = [x[:n_train] for x in X], [x[n_train:] for x in X]
    p = LinearProbe("classification", Cs=[C], tol=1e-8).fit(tr, y[:n_train], va, y[n_train:])
    prob = p.predict(va)
    for k in range(len(dims)):
        sk = make_pipeline(StandardScaler(), LogisticRegression(C=C, tol=1e-10, max_iter=100_000))
        sk.fit(tr[k].astype(np.float64), y[:n_train])
        sk_prob = sk.predict_proba(va[k].astype(np.float64))[:, 1]
        # both solvers stop at a gradient tolerance: compare at solver precision
        np.testing.assert_allclose(prob[k], sk_prob, atol=1e-4)
        assert p.valid_scores_[k] == pytest.approx(roc_auc_score(y[n_train:], sk_prob), abs=1e-3)


def test_grid_choice_equals_sklearn_loop():
    """The alpha chosen per layer is the one a plain sklearn loop over the grid picks on valid."""
    rng = np.random.default_rng(2)
    X = _layers(rng, 140, (12, 12, 12))
    y = X[2][:, :3].sum(axis=1) + 2 * rng.normal(size=140)
    grid = [0.1, 1.0, 10.0, 100.0, 1000.0, 1e4]
    tr, va = [x[:100] for x in X], [x[100:] for x in X]
    p = LinearProbe(alphas=grid).fit(tr, y[:100], va, y[100:])
    for k in range(3):
        xt, xv = tr[k].astype(np.float64), va[k].astype(np.float64)
        maes = [mean_absolute_error(y[100:], make_pipeline(StandardScaler(), Ridge(alpha=a)).fit(xt, y[:100]).predict(xv)) for a in grid]
        np.testing.assert_allclose(p.valid_grid_scores_[k], maes, atol=1e-9)
        assert p.best_param_[k] == grid[int(np.argmin(maes))]


def test_estimator_contract_and_errors():
    p = LinearProbe(alphas=[1.0])
    assert p.get_params()["alphas"] == [1.0]
    assert p.set_params(tol=1e-5) is p and p.tol == 1e-5
    with pytest.raises(NotFittedError):
        p.predict([np.zeros((3, 2))])
    with pytest.raises(ConfigError, match="unknown parameter"):
        p.set_params(nope=1)
    X = [np.ones((10, 3), np.float32)]
    X[0][4, 1] = np.nan
    with pytest.raises(ConfigError, match=r"rows \[4\]"):
        LinearProbe().fit(X, np.arange(10.0), [np.ones((5, 3))], np.arange(5.0))
    with pytest.raises(ConfigError, match="0/1"):
        LinearProbe("classification").fit([np.ones((10, 3))], np.arange(10.0), [np.ones((4, 3))], np.array([0, 1, 0, 1.0]))
    with pytest.raises(ConfigError, match="task_type"):
        LinearProbe("ranking").fit([np.ones((10, 3))], np.arange(10.0), [np.ones((4, 3))], np.arange(4.0))
