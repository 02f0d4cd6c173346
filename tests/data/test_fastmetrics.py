"""``evaluate`` on one finite column gives scikit-learn's score bit for bit (ties, constant
columns, imbalance included) without calling scikit-learn per column: its input validation
cost several times the arithmetic over the thousands of short columns a probe run scores
(issue 22). Inputs scikit-learn refuses still go to it, with its errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics

from molstrata.data._metrics import evaluate

FUNCS = {
    "roc-auc": sklearn.metrics.roc_auc_score,
    "pr-auc": sklearn.metrics.average_precision_score,
    "mae": sklearn.metrics.mean_absolute_error,
    "rmse": lambda y, p: math.sqrt(sklearn.metrics.mean_squared_error(y, p)),
}
NAMES = ("roc_auc_score", "average_precision_score", "mean_absolute_error", "mean_squared_error")


def _cases(metric):
    rng = np.random.default_rng(11)
    for t in range(80):
        n = int(rng.integers(3, 2000))
        if metric in ("roc-auc", "pr-auc"):
            y = (rng.random(n) < rng.uniform(0.03, 0.95)).astype(float)
            y[0], y[1] = 1.0, 0.0
        else:
            y = rng.normal(size=n) * rng.uniform(0.1, 100)
        p = rng.random(n) if metric in ("roc-auc", "pr-auc") else y + rng.normal(size=n)
        if t % 3 == 0:
            p = np.round(p, 1)  # many ties
        if t % 7 == 0:
            p = np.full(n, 0.25)  # a constant column
        yield y, p


@pytest.mark.parametrize("metric", sorted(FUNCS))
def test_evaluate_equals_sklearn_bit_for_bit_without_calling_it(metric, monkeypatch):
    cases = list(_cases(metric))
    want = [float(FUNCS[metric](y, p)) for y, p in cases]

    def refuse(*a, **k):
        raise AssertionError("scikit-learn called for one finite column")

    for name in NAMES:
        monkeypatch.setattr(sklearn.metrics, name, refuse)
    got = [evaluate(metric, y, p) for y, p in cases]
    assert np.array(got).tobytes() == np.array(want).tobytes()


@pytest.mark.parametrize("metric", ["roc-auc", "mae"])
def test_infinite_predictions_still_get_sklearns_error(metric):
    y = np.array([0.0, 1.0, 1.0, 0.0])
    p = np.array([0.1, np.inf, 0.3, 0.2])
    with pytest.raises(ValueError, match="infinity"):
        evaluate(metric, y, p)
