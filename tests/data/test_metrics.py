"""evaluate / mean_std / evaluate_many against independent computations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from molstrata.core.errors import ConfigError, MolstrataError
from molstrata.data import MetricInputError, evaluate, evaluate_many, mean_std


@pytest.fixture
def reg():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    return y, y + rng.normal(scale=0.5, size=50)


@pytest.fixture
def clf():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=60).astype(float)
    return y, np.clip(y * 0.3 + rng.uniform(size=60), 0, 1)


def test_mae_is_mean_absolute_error_by_hand(reg):
    y, p = reg
    assert evaluate("mae", y, p) == pytest.approx(np.abs(y - p).mean(), rel=1e-12)


def test_rmse_by_hand(reg):
    y, p = reg
    assert evaluate("rmse", y, p) == pytest.approx(np.sqrt(((y - p) ** 2).mean()), rel=1e-12)


def test_spearman_matches_pearson_of_ranks(reg):
    y, p = reg
    expected = np.corrcoef(stats.rankdata(y), stats.rankdata(p))[0, 1]
    assert evaluate("spearman", y, p) == pytest.approx(expected, rel=1e-12)


def test_roc_auc_matches_pairwise_count(clf):
    y, p = clf
    pos, neg = p[y == 1], p[y == 0]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert evaluate("roc-auc", y, p) == pytest.approx(pairs / (len(pos) * len(neg)), rel=1e-12)


def test_pr_auc_is_average_precision(clf):
    y, p = clf
    # average precision by hand: mean precision at each positive's rank (no ties here)
    order = np.argsort(-p)
    hits = y[order] == 1
    precision_at_hit = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)
    assert evaluate("pr-auc", y, p) == pytest.approx(precision_at_hit.mean(), rel=1e-12)
    assert evaluate("pr-auc", y, p) == pytest.approx(skm.average_precision_score(y, p))


def test_multitask_mean_over_labelled_rows(clf):
    y, p = clf
    y2 = np.stack([y, 1 - y], axis=1)
    p2 = np.stack([p, p[::-1]], axis=1)
    y2[:5, 1] = np.nan
    expected = np.mean([skm.roc_auc_score(y, p), skm.roc_auc_score(1 - y[5:], p[::-1][5:])])
    assert evaluate("roc-auc", y2, p2) == pytest.approx(expected)


def test_bad_inputs_are_clear_errors(clf):
    y, p = clf
    with pytest.raises(ConfigError, match="valid choices"):
        evaluate("accuracy", y, p)
    with pytest.raises(MetricInputError, match="same non-empty shape"):
        evaluate("mae", y, p[:-1])
    bad = p.copy()
    bad[3] = np.nan
    with pytest.raises(MetricInputError, match=r"rows \[3\]"):
        evaluate("roc-auc", y, bad)
    with pytest.raises(MetricInputError, match="one class"):
        evaluate("roc-auc", np.ones(5), np.linspace(0, 1, 5))
    with pytest.raises(MetricInputError, match="0/1 labels"):
        evaluate("pr-auc", np.array([0.0, 2.0, 1.0]), np.array([0.1, 0.2, 0.3]))
    assert issubclass(MetricInputError, MolstrataError) and issubclass(MetricInputError, ValueError)


def test_mean_std_rounds_then_population_std():
    scores = [0.3104, 0.3498, 0.2901, 0.4003, 0.3296]
    rounded = [0.310, 0.350, 0.290, 0.400, 0.330]
    mean = sum(rounded) / 5
    std = (sum((r - mean) ** 2 for r in rounded) / 5) ** 0.5  # population std, by hand
    assert mean_std(scores) == (round(mean, 3), round(std, 3))
    assert mean_std(scores)[1] != round(float(np.std(rounded, ddof=1)), 3)


def test_evaluate_many_leaderboard_form():
    runs = [{"caco2_wang": 0.3 + 0.01 * s, "herg": 0.8 - 0.01 * s} for s in range(5)]
    board = evaluate_many(runs)
    assert board == {"caco2_wang": [0.32, 0.014], "herg": [0.78, 0.014]}
    with pytest.raises(MetricInputError, match="at least 5 runs"):
        evaluate_many(runs[:3])
    assert evaluate_many(runs[:3], min_runs=3)["herg"] == [0.79, 0.008]


REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "tdc_metric_reference.json"


def test_evaluate_equals_pytdc_evaluator_outputs():
    """Scores computed by PyTDC 1.1.15's own ``Evaluator`` on the same inputs (with ties)."""
    cases = json.loads(REFERENCE.read_text())["evaluator"]
    for case in cases:
        for metric, expected in case["tdc"].items():
            y, p = (
                (case["yr"], case["pr"])
                if metric in ("mae", "spearman")
                else (case["yc"], case["pc"])
            )
            assert evaluate(metric, y, p) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_evaluate_many_equals_pytdc():
    for case in json.loads(REFERENCE.read_text())["evaluate_many"]:
        runs = [
            {task: next(iter(scores.values())) for task, scores in run.items()}
            for run in case["runs"]
        ]
        assert evaluate_many(runs) == case["tdc"]
