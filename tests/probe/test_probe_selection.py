"""Vectorised TDC metrics, validation-only layer selection, the paper's Δ% formula."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, mean_absolute_error, roc_auc_score

from molstrata.core.errors import ConfigError
from molstrata.probe import delta_pct, oracle_layer, select_layer
from molstrata.probe.scoring import score_columns


def test_score_columns_match_libraries():
    rng = np.random.default_rng(0)
    y = rng.normal(size=60)
    P = np.round(rng.normal(size=(60, 4)), 1)  # ties on purpose
    P[:, 3] = y + rng.normal(size=60)
    np.testing.assert_allclose(score_columns("mae", y, P), [mean_absolute_error(y, P[:, j]) for j in range(4)])
    np.testing.assert_allclose(score_columns("spearman", y, P), [spearmanr(y, P[:, j])[0] for j in range(4)])
    yc = (y > 0).astype(float)
    np.testing.assert_allclose(score_columns("roc-auc", yc, P), [roc_auc_score(yc, P[:, j]) for j in range(4)])
    np.testing.assert_allclose(score_columns("pr-auc", yc, P), [average_precision_score(yc, P[:, j]) for j in range(4)])
    assert np.isnan(score_columns("spearman", y, np.ones(60)))


def test_select_layer_direction_ties_nan():
    assert select_layer(np.array([0.6, 0.8, 0.7]), "roc-auc") == 1
    assert select_layer(np.array([0.6, 0.8, 0.7]), "mae") == 0
    assert select_layer(np.array([0.5, 0.9, 0.9]), "spearman") == 1  # ties: shallowest
    assert select_layer(np.array([np.nan, 0.2, 0.3]), "pr-auc") == 2
    assert select_layer(np.array([np.nan, 0.2, 0.3]), "mae") == 1
    with pytest.raises(ConfigError, match="NaN"):
        select_layer(np.array([np.nan, np.nan]), "mae")
    with pytest.raises(ConfigError, match="valid-best"):
        select_layer(np.array([0.1]), "mae", strategy="peek-at-test")
    with pytest.raises(ConfigError, match="metric"):
        select_layer(np.array([0.1]), "accuracy")


def test_select_layer_takes_only_validation_scores():
    import inspect

    params = list(inspect.signature(select_layer).parameters)
    assert params == ["valid_scores", "metric", "strategy"]


def test_delta_pct_is_the_papers_formula():
    # MAE: (final - selected) / final ; lower is better
    assert delta_pct(0.50, 0.40, "mae") == pytest.approx(20.0)
    assert delta_pct(0.50, 0.60, "mae") == pytest.approx(-20.0)
    # others: (selected - final) / final
    assert delta_pct(0.70, 0.77, "roc-auc") == pytest.approx(10.0)
    assert delta_pct(0.40, 0.30, "spearman") == pytest.approx(-25.0)
    assert delta_pct(0.20, 0.25, "pr-auc") == pytest.approx(25.0)
    np.testing.assert_allclose(delta_pct(np.array([1.0, 2.0]), np.array([1.5, 1.0]), "roc-auc"), [50.0, -50.0])


def test_oracle_layer_is_best_on_test():
    assert oracle_layer(np.array([0.3, 0.9, 0.5]), "roc-auc") == 1
    assert oracle_layer(np.array([0.3, 0.9, 0.5]), "mae") == 0
