"""Metrics as TDC computes them, and the mean ± std over seeds of ``evaluate_many``.

TDC's ``Evaluator`` maps ``mae`` to ``sklearn.metrics.mean_absolute_error``, ``roc-auc`` to
``roc_auc_score``, ``pr-auc`` to ``average_precision_score`` and ``spearman`` to
``scipy.stats.spearmanr(...)[0]``; :func:`evaluate` calls the same functions. ``rmse``
(MoleculeNet regression) is ``sqrt(mean_squared_error)``. PyTDC's ``evaluate`` rounds each
score to 3 decimals and ``evaluate_many`` reports ``[round(mean, 3), round(std, 3)]`` with
NumPy's population std (``ddof=0``) over those rounded scores; :func:`mean_std` and
:func:`evaluate_many` do the same.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from molstrata.core.errors import MolstrataError, check_choice
from molstrata.data import _fastmetrics as _fast

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

METRICS = ("mae", "rmse", "spearman", "roc-auc", "pr-auc")
CLASSIFICATION_METRICS = ("roc-auc", "pr-auc")


def higher_is_better(metric: str) -> bool:
    """The one metric direction of molstrata: False for the error metrics ``mae`` and ``rmse``
    (lower is better), True for ``spearman``, ``roc-auc`` and ``pr-auc``."""
    check_choice("metric", metric.lower(), METRICS)
    return metric.lower() not in ("mae", "rmse")


def delta_pct(
    final: float | np.ndarray, other: float | np.ndarray, metric: str
) -> float | np.ndarray:
    """Relative gain (%) of ``other`` over ``final`` (the final layer / full depth), with the
    paper's formula: ``100 * (final - other) / final`` for ``mae``/``rmse``, else
    ``100 * (other - final) / final``. Positive means better than ``final``; NaN where
    ``final`` is 0 or not finite.

    Parameters
    ----------
    final, other : float or ndarray of the same shape

    Returns
    -------
    float, or ndarray of that shape
    """
    final = np.asarray(final, dtype=np.float64)
    other = np.asarray(other, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = (other - final) / final if higher_is_better(metric) else (final - other) / final
    out = np.where(np.isfinite(final) & (final != 0), 100.0 * gain, np.nan)
    return float(out) if out.ndim == 0 else out


class MetricInputError(MolstrataError, ValueError):
    """Labels or predictions that a metric cannot score (shape, NaN, a single class)."""


def evaluate(metric: str, y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Score predictions with a TDC metric.

    Parameters
    ----------
    metric : {"mae", "rmse", "spearman", "roc-auc", "pr-auc"}
    y_true : array-like, shape (n_molecules,) or (n_molecules, n_tasks)
        Labels; 0/1 for ``roc-auc`` and ``pr-auc``. With ``n_tasks`` columns, NaN marks a
        missing label and the score is the mean over tasks of the per-task score on the
        labelled rows (tasks with a single class are skipped with a warning).
    y_pred : array-like, same shape as ``y_true``
        Predictions (scores or probabilities for classification). No NaN allowed.

    Returns
    -------
    float
        Unrounded; lower is better for ``mae``/``rmse``, higher for the others.

    Raises
    ------
    ConfigError
        Unknown metric.
    MetricInputError
        Shapes differ, NaN predictions or labels (single task), or a single class.

    Examples
    --------
    >>> evaluate("mae", [1.0, 2.0], [1.5, 2.5])
    0.5
    """
    check_choice("metric", metric, METRICS)
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_pred, dtype=np.float64)
    if yt.shape != yp.shape or yt.ndim not in (1, 2) or yt.shape[0] == 0:
        raise MetricInputError(
            f"y_true and y_pred must have the same non-empty shape (n_molecules,) or "
            f"(n_molecules, n_tasks); got {yt.shape} and {yp.shape}"
        )
    if np.isnan(yp).any():
        rows = np.flatnonzero(np.isnan(yp).reshape(len(yp), -1).any(axis=1))
        raise MetricInputError(f"y_pred has NaN at rows {rows[:10].tolist()}")
    if yt.ndim == 1:
        if np.isnan(yt).any():
            raise MetricInputError(f"y_true has NaN at rows {np.flatnonzero(np.isnan(yt))[:10]}")
        return _score(metric, yt, yp, where="")
    scores = []
    for k in range(yt.shape[1]):
        mask = ~np.isnan(yt[:, k])
        if metric in CLASSIFICATION_METRICS and len(np.unique(yt[mask, k])) < 2:
            warnings.warn(f"task column {k} has a single class; skipped", UserWarning, stacklevel=2)
            continue
        if mask.sum() < 2:
            continue
        scores.append(_score(metric, yt[mask, k], yp[mask, k], where=f" (task column {k})"))
    if not scores:
        raise MetricInputError(f"no task column could be scored with {metric}")
    return float(np.mean(scores))


def _score(metric: str, yt: np.ndarray, yp: np.ndarray, where: str) -> float:
    from sklearn import metrics as skm

    # finite 1-D columns: scikit-learn's arithmetic without its validation (same bits;
    # molstrata.data._fastmetrics); anything else goes to scikit-learn for its errors
    fast = np.isfinite(yp).all() and np.isfinite(yt).all()
    if metric in CLASSIFICATION_METRICS:
        classes = np.unique(yt)
        if not np.isin(classes, (0.0, 1.0)).all():
            raise MetricInputError(f"{metric} needs 0/1 labels{where}; got {classes[:5]}")
        if len(classes) < 2:
            raise MetricInputError(f"{metric} is undefined when y_true has one class{where}")
        if fast:
            return float((_fast.roc_auc if metric == "roc-auc" else _fast.average_precision)(yt, yp))
        fn = skm.roc_auc_score if metric == "roc-auc" else skm.average_precision_score
        return float(fn(yt, yp))
    if metric == "mae":
        return _fast.mae(yt, yp) if fast else float(skm.mean_absolute_error(yt, yp))
    if metric == "rmse":
        return float(math.sqrt(_fast.mse(yt, yp) if fast else skm.mean_squared_error(yt, yp)))
    from scipy import stats

    return float(stats.spearmanr(yt, yp)[0])


def mean_std(scores: Sequence[float], *, decimals: int = 3) -> tuple[float, float]:
    """Mean and population std over seeds, rounded as PyTDC's ``evaluate_many``.

    Parameters
    ----------
    scores : sequence of float, length n_seeds
        One score per seed. Each is rounded to ``decimals`` first, as PyTDC's
        ``evaluate`` does before ``evaluate_many`` aggregates.

    Returns
    -------
    mean, std : float
        ``round(np.mean(r), 3)`` and ``round(np.std(r), 3)`` (``ddof=0``) of the rounded
        scores ``r``.
    """
    values = np.asarray([round(float(s), decimals) for s in scores], dtype=np.float64)
    if values.size == 0 or np.isnan(values).any():
        raise MetricInputError(f"mean_std needs at least one score and no NaN; got {scores}")
    return round(float(np.mean(values)), decimals), round(float(np.std(values)), decimals)


def evaluate_many(
    results: Sequence[Mapping[str, float]], *, min_runs: int = 5
) -> dict[str, list[float]]:
    """Leaderboard form ``{task: [mean, std]}`` from one ``{task: score}`` dict per seed.

    Parameters
    ----------
    results : sequence of mapping, length n_seeds
        ``results[s][task]`` is the test score of seed ``s``; every dict has the same tasks.
    min_runs : int, default=5
        TDC's leaderboard asks for at least 5 runs; lower it for quick looks.

    Returns
    -------
    dict of str to [float, float]
        As PyTDC's ``BenchmarkGroup.evaluate_many``: :func:`mean_std` per task.
    """
    if len(results) < min_runs:
        raise MetricInputError(
            f"evaluate_many needs at least {min_runs} runs (TDC leaderboard: 5 seeds); "
            f"got {len(results)}"
        )
    tasks = list(results[0])
    for i, run in enumerate(results):
        if set(run) != set(tasks):
            raise MetricInputError(f"run {i} has tasks {sorted(run)}, run 0 has {sorted(tasks)}")
    return {task: list(mean_std([run[task] for run in results])) for task in tasks}
