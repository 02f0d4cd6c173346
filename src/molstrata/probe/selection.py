"""Choosing a layer from validation scores, and the paper's relative gain.

Selection is a named strategy (``"valid-best"`` now; issue 11 adds cross-validated ones)
mapping **validation** scores to a layer. Nothing here accepts test scores, except
:func:`oracle_layer`, which exists only to measure how optimistic test-picking is and whose
output is always reported under the label "oracle".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from molstrata.core.errors import ConfigError, check_choice
from molstrata.probe.scoring import METRICS, greater_is_better


def _best_index(scores: np.ndarray, metric: str, what: str) -> int:
    check_choice("metric", metric, METRICS)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ConfigError(f"{what} must be a non-empty 1-D array (n_layers,), got shape {s.shape}")
    if np.isnan(s).all():
        raise ConfigError(f"every {what} is NaN; no layer can be chosen")
    worst = -np.inf if greater_is_better(metric) else np.inf
    s = np.where(np.isnan(s), worst, s)
    # ties go to the shallowest layer: the cheapest encoder to truncate to
    return int(np.argmax(s) if greater_is_better(metric) else np.argmin(s))


def _valid_best(valid_scores: np.ndarray, metric: str) -> int:
    return _best_index(valid_scores, metric, "valid_scores")


#: selection strategies: name -> function(valid_scores (n_layers,), metric) -> layer index
STRATEGIES: dict[str, Callable[[np.ndarray, str], int]] = {"valid-best": _valid_best}


def register_strategy(name: str, func: Callable[[np.ndarray, str], int]) -> None:
    """Add a selection strategy (``func(valid_scores, metric) -> layer``) under ``name``."""
    STRATEGIES[name] = func


def select_layer(valid_scores: np.ndarray, metric: str, *, strategy: str = "valid-best") -> int:
    """The layer to use, chosen from **validation** scores only.

    Parameters
    ----------
    valid_scores : ndarray of shape (n_layers,), the validation score of each layer's probe
    metric : ``mae``/``rmse`` (lower is better), ``spearman``, ``roc-auc`` or ``pr-auc``
    strategy : a name in :data:`STRATEGIES`; ``"valid-best"`` takes the arg-best layer,
        the shallowest one on ties, ignoring NaN scores

    Returns
    -------
    int, the selected layer index (0 = the embedding layer)

    Examples
    --------
    >>> select_layer(np.array([0.70, 0.80, 0.78]), "roc-auc")
    1
    >>> select_layer(np.array([0.50, 0.40, 0.45]), "mae")
    1
    """
    check_choice("selection strategy", strategy, sorted(STRATEGIES))
    return int(STRATEGIES[strategy](np.asarray(valid_scores, dtype=np.float64), metric))


def oracle_layer(test_scores: np.ndarray, metric: str) -> int:
    """The layer with the best **test** score: the paper's choice, reported only as "oracle".

    Never use it to choose a layer; it measures the optimism of picking on test.

    Parameters
    ----------
    test_scores : ndarray of shape (n_layers,) (e.g. the mean over seeds)
    """
    return _best_index(test_scores, metric, "test_scores")


def delta_pct(final: float | np.ndarray, other: float | np.ndarray, metric: str):
    """Relative gain (%) of ``other`` over the final layer, with the paper's formula.

    ``100 * (final - other) / final`` for ``mae``/``rmse`` (lower is better), else
    ``100 * (other - final) / final``. Positive means better than the final layer.
    """
    final = np.asarray(final, dtype=np.float64)
    other = np.asarray(other, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = (final - other) / final if not greater_is_better(metric) else (other - final) / final
    out = 100.0 * gain
    return float(out) if out.ndim == 0 else out
