"""pr-auc over many columns equals scikit-learn's ``average_precision_score`` bit for bit
(ties included) without calling it per column (its input validation cost 20x the arithmetic
in the sweep's grid scoring)."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics

from molstrata.probe.scoring import score_columns


def _cases():
    rng = np.random.default_rng(7)
    for t in range(60):
        n = int(rng.integers(2, 1500))
        y = (rng.random(n) < rng.uniform(0.05, 0.9)).astype(float)
        y[0] = 1.0
        p = rng.random((n, 4))
        if t % 3 == 0:
            p = np.round(p, 2)  # many ties
        if t % 5 == 0:
            p[:, 1] = 0.5  # a constant column
        yield y, p


def test_pr_auc_columns_equal_sklearn_bit_for_bit_without_calling_it(monkeypatch):
    ref = sklearn.metrics.average_precision_score
    cases = list(_cases())
    expected = [np.array([ref(y, p[:, j]) for j in range(p.shape[1])]) for y, p in cases]

    def refuse(*a, **k):
        raise AssertionError("average_precision_score called per column")

    monkeypatch.setattr(sklearn.metrics, "average_precision_score", refuse)
    for (y, p), want in zip(cases, expected, strict=True):
        got = score_columns("pr-auc", y, p)
        assert got.tobytes() == want.tobytes()


def test_pr_auc_without_positives_behaves_as_sklearn():
    y = np.zeros(10)
    p = np.linspace(0, 1, 10)[:, None]
    with pytest.warns(UserWarning):
        want = sklearn.metrics.average_precision_score(y, p[:, 0])
    with pytest.warns(UserWarning):
        got = score_columns("pr-auc", y, p)
    assert got[0] == want
