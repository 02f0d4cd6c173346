"""The one tie rule of every discrete choice (issue 17 §4)."""

from __future__ import annotations

import numpy as np

from molstrata.core.choice import best_index, best_indices, clearly_better
from molstrata.probe.combine import ensemble_weights
from molstrata.probe.selection import select_cv, select_cv_1se, select_layer


def test_first_candidate_within_tolerance_wins():
    assert best_index([0.5, 0.7, 0.7 + 1e-14], True) == 1
    assert best_index([0.5, 0.7 + 1e-14, 0.7], True) == 1
    assert best_index([0.3, 0.2 + 1e-15, 0.2], False) == 1
    assert best_index([0.5, 0.7, 0.7 + 1e-6], True) == 2  # a real difference still counts
    assert best_index([np.nan, np.inf, 0.1], True) == 2
    assert best_index([np.nan, np.nan], True) is None
    np.testing.assert_array_equal(best_indices(np.array([[1.0, 1.0 + 1e-13], [2.0, 1.0]]), False), [0, 1])


def test_clearly_better_keeps_the_earlier_on_a_tie():
    assert not clearly_better(0.8 + 1e-14, 0.8, True)
    assert clearly_better(0.81, 0.8, True)
    assert not clearly_better(np.nan, 0.8, True)
    assert clearly_better(0.5, np.nan, False)


def test_layer_choices_are_tie_tolerant():
    eps = 3e-14  # the size of the thread-count noise the issue measured
    assert select_layer(np.array([0.5, 0.7, 0.7 + eps]), "roc-auc") == 1
    assert select_layer(np.array([0.5, 0.3 + eps, 0.3]), "mae") == 1
    folds = np.array([[0.70, 0.80, 0.80 + eps], [0.72, 0.78, 0.78 + eps], [0.7, 0.79, 0.79 + eps]])
    assert select_cv(folds, "roc-auc") == 1
    s = np.array([[0.80, 0.80 + eps, 0.70], [0.82, 0.82 + eps, 0.71], [0.81, 0.81 + eps, 0.69]])
    assert select_cv_1se(s, "roc-auc") == 0


def test_ensemble_temperature_tie_goes_to_the_first():
    rng = np.random.default_rng(0)
    folds = np.repeat(np.arange(3), 10)
    y = rng.normal(size=30)
    oof = np.repeat(y[:, None], 3, axis=1)  # every layer predicts perfectly: all temperatures tie
    oof[:, 1] += 1e-15 * rng.normal(size=30)
    fold_scores = np.array([[0.1, 0.1 + 1e-14, 0.2]] * 3)
    _, tau = ensemble_weights(fold_scores, oof, y, folds, "mae")
    assert tau == 0.0


def test_top_layers_tie_goes_to_the_shallower():
    from molstrata.probe.combine import top_layers

    eps = 3e-14
    fs = np.array([[0.5, 0.7, 0.7 + eps, 0.6]] * 3)
    assert top_layers(fs, "roc-auc", 1) == [1]
    assert top_layers(fs, "roc-auc", 2) == [1, 2]
    assert top_layers(fs, "roc-auc", 3) == [1, 2, 3]
