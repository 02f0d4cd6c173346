"""The probes as plain scikit-learn estimators (issue 19, item 4): ``fit(X, y)`` on one
matrix with an optional validation set (an inner split without one), labels from a
classifier's ``predict``, ``predict_proba``, and ``LayerEnsemble`` on a list of layers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from extras import installed_or_skip
from molstrata.core.errors import ConfigError, NotFittedError
from molstrata.probe.estimators import make_probe

FAST = {"mlp": {"hidden": 8, "max_epochs": 30, "patience": 5, "batch_size": 16},
        "gbdt": {"n_estimators": 40, "early_stopping_rounds": 10, "n_jobs": 1}}


def _matrix(task_type: str, n: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = 2 * X[:, 0] - X[:, 1] + 0.2 * rng.normal(size=n)
    if task_type == "classification":
        y = np.where(y > 0, "active", "inactive")
    return X, y


@pytest.mark.parametrize("model", ["linear", "mlp", "gbdt"])
@pytest.mark.parametrize("task_type", ["regression", "classification"])
def test_fit_on_one_matrix(model, task_type):
    if model == "gbdt":
        installed_or_skip("lightgbm", "this test")
    X, y = _matrix(task_type)
    est = make_probe(model, task_type, None, 0, **FAST.get(model, {}))
    assert is_classifier(est) == (task_type == "classification") and is_regressor(est) != is_classifier(est)
    assert est.fit(X[:100], y[:100]) is est  # no validation set: an inner split
    pred = est.predict(X[100:])
    assert pred.shape == (20,)
    if task_type == "classification":
        assert set(pred) <= {"active", "inactive"} and list(est.classes_) == ["active", "inactive"]
        proba = est.predict_proba(X[100:])
        assert proba.shape == (20, 2) and np.allclose(proba.sum(axis=1), 1)
        np.testing.assert_array_equal(pred, est.classes_[(proba[:, 1] >= 0.5).astype(int)])
        assert est.score(X[100:], y[100:]) > 0.7
    else:
        assert not hasattr(est, "predict_proba")
        assert est.score(X[100:], y[100:]) > (0.3 if model == "gbdt" else 0.5)  # 80 training rows
    with_valid = clone(est).fit(X[:80], y[:80], X_valid=X[80:100], y_valid=y[80:100])
    assert with_valid.predict(X[100:]).shape == (20,)


def test_validation_set_is_used_for_tuning():
    X, y = _matrix("regression")
    a = make_probe("linear", "regression", None, 0).fit(X[:60], y[:60], X_valid=X[60:100], y_valid=y[60:100])
    b = make_probe("linear", "regression", None, 0).fit(X[:60], y[:60], X_valid=X[60:100], y_valid=-y[60:100])
    assert a.best_param_[0] != b.best_param_[0]  # tuned on the given validation rows
    with pytest.raises(ConfigError, match="together"):
        make_probe("linear", "regression", None, 0).fit(X, y, X_valid=X)


def test_probe_in_a_pipeline_under_grid_search():
    X, y = _matrix("regression")
    pipe = make_pipeline(StandardScaler(), make_probe("linear", "regression", None, 0))
    search = GridSearchCV(pipe, {"linearprobe__alphas": [[0.1, 1.0], [100.0, 1000.0]]}, cv=3).fit(X, y)
    assert search.best_params_["linearprobe__alphas"] == [0.1, 1.0]
    assert cross_val_score(make_probe("linear", "classification", None, 0), *_matrix("classification"), cv=3).mean() > 0.7


def test_layer_lists_keep_per_layer_outputs():
    rng = np.random.default_rng(1)
    layers = [rng.normal(size=(90, 3)), rng.normal(size=(90, 5))]
    y = (layers[1][:, 0] > 0).astype(float)
    est = make_probe("linear", "classification", None, 0).fit(layers, y)  # inner split
    out = est.predict(layers)
    assert out.shape == (2, 90) and ((out >= 0) & (out <= 1)).all()
    with pytest.raises(NotFittedError):
        clone(est).predict(layers)


@pytest.mark.parametrize("task_type", ["regression", "classification"])
def test_layer_ensemble(task_type):
    from molstrata import LayerEnsemble

    rng = np.random.default_rng(2)
    n = 150
    layers = [rng.normal(size=(n, 4)), rng.normal(size=(n, 6)), rng.normal(size=(n, 6))]
    signal = 2 * layers[1][:, 0] + layers[1][:, 1]  # only layer 1 holds signal
    y = signal + 0.3 * rng.normal(size=n)
    if task_type == "classification":
        y = np.where(y > 0, 1, 0)
    ens = LayerEnsemble(probe=make_probe("linear", task_type, None, 0), cv=5)
    assert is_classifier(ens) == (task_type == "classification")
    assert clone(ens).get_params()["cv"] == 5
    ens.fit([x[:120] for x in layers], y[:120])
    w = ens.weights_
    assert w.shape == (3,) and np.isclose(w.sum(), 1) and (w >= 0).all()
    assert w[1] == w.max() and w[1] > w[0]  # the informative layer weighs most
    pred = ens.predict([x[120:] for x in layers])
    assert pred.shape == (30,)
    layer_preds = ens.probe_.predict([x[120:] for x in layers])
    expect = sum(w[k] * layer_preds[k] for k in range(3))
    if task_type == "classification":
        proba = ens.predict_proba([x[120:] for x in layers])[:, 1]
        np.testing.assert_allclose(proba, expect)
        np.testing.assert_array_equal(pred, (proba >= 0.5).astype(int))
    else:
        np.testing.assert_allclose(pred, expect)
    grouped = LayerEnsemble(probe="linear", task_type=task_type, cv=3).fit(
        layers, y, groups=np.arange(n) % 10)
    assert grouped.cv_scores_.shape == (3, 3)
    with pytest.raises(ConfigError, match="cv must be"):
        LayerEnsemble(cv=2).fit(layers, y)
