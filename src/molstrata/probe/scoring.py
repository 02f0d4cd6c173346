"""Scores of many prediction columns at once, with TDC's metric definitions.

TDC scores the ADMET group with ``mae`` (scikit-learn ``mean_absolute_error``),
``spearman`` (SciPy ``spearmanr``), ``roc-auc`` (``roc_auc_score``) and ``pr-auc``
(``average_precision_score``). Probes score a whole grid of hyperparameters per layer on
the validation set, so these are vectorised over columns; ``tests/probe`` checks each
against the library it mirrors.
"""

from __future__ import annotations

import numpy as np

from molstrata.core.errors import check_choice
from molstrata.data._fastmetrics import average_precision
from molstrata.data._metrics import higher_is_better as greater_is_better  # noqa: F401  (re-export)

METRICS = ("mae", "rmse", "spearman", "roc-auc", "pr-auc")


def _rank_columns(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(a, axis=0, method="average")


def _average_precision_columns(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """scikit-learn's ``average_precision_score(y, p[:, j])`` for every column j of p
    (n, n_columns), bit for bit: the same operations on the same arrays, without the input
    validation that costs 20x the arithmetic on validation-sized columns. Labels that are
    not 0/1 with at least one positive go to scikit-learn itself (its errors and warnings)."""
    if not (np.isin(y, (0.0, 1.0)).all() and (y == 1).any()):
        from sklearn.metrics import average_precision_score

        return np.array([average_precision_score(y, p[:, j]) for j in range(p.shape[1])])
    return np.array([average_precision(y, p[:, j]) for j in range(p.shape[1])])


def score_columns(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Score every column of ``y_pred`` against ``y_true``.

    Parameters
    ----------
    metric : one of ``mae``, ``rmse``, ``spearman``, ``roc-auc``, ``pr-auc``
    y_true : ndarray of shape (n_molecules,); 0/1 labels for the classification metrics
    y_pred : ndarray of shape (n_molecules,) or (n_molecules, n_columns); predicted values
        (regression) or positive-class probabilities / scores (classification)

    Returns
    -------
    ndarray of shape (n_columns,) (a float when ``y_pred`` is 1-D). NaN where the score is
    undefined (a constant column for spearman).
    """
    check_choice("metric", metric, METRICS)
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    one = p.ndim == 1
    if one:
        p = p[:, None]
    if p.shape[0] != y.shape[0]:
        raise ValueError(f"y_pred has {p.shape[0]} rows, y_true has {y.shape[0]}")
    if metric == "mae":
        out = np.abs(p - y[:, None]).mean(axis=0)
    elif metric == "rmse":
        out = np.sqrt(((p - y[:, None]) ** 2).mean(axis=0))
    elif metric == "spearman":
        ry = _rank_columns(y)
        rp = _rank_columns(p)
        ry = ry - ry.mean()
        rp = rp - rp.mean(axis=0)
        den = np.sqrt((ry**2).sum() * (rp**2).sum(axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(den > 0, (ry @ rp) / np.where(den > 0, den, 1.0), np.nan)
    elif metric == "roc-auc":
        pos = y == 1
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0:
            raise ValueError("roc-auc needs both classes in y_true")
        r = _rank_columns(p)
        out = (r[pos].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    else:  # pr-auc: average precision, as scikit-learn computes it
        out = _average_precision_columns(y, p)
    out = np.asarray(out, dtype=np.float64)
    return float(out[0]) if one else out


def score(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """One score: :func:`score_columns` on a single prediction vector (n_molecules,)."""
    return float(score_columns(metric, y_true, np.asarray(y_pred).reshape(-1)))
