"""TDC's metrics on one column of checked float64 arrays, computed with the operations
scikit-learn 1.x uses, in the same order, without its input validation.

A probe run scores thousands of short columns (every layer's test predictions, every grid
point on valid, every CV fold); scikit-learn's validation (``type_of_target``, ``check_array``,
parameter checks) costs several times the arithmetic there. The functions below repeat the
arithmetic only, so their results are the library's bit for bit; ``tests/data`` checks them
against scikit-learn on random columns with and without ties. Callers check the inputs first
(:func:`molstrata.data._metrics.evaluate`): 1-D, same length, finite, and for the
classification metrics 0/1 labels with both classes present.
"""

from __future__ import annotations

import numpy as np


def _binary_counts(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives at each distinct threshold, highest score first, as
    ``sklearn.metrics._ranking.confusion_matrix_at_thresholds`` counts them (no weights).

    Parameters
    ----------
    y : ndarray (n,) of 0.0 / 1.0
    p : ndarray (n,) float64 scores

    Returns
    -------
    tps, fps : ndarrays (n_thresholds,) float64
    """
    order = np.argsort(p, kind="mergesort")[::-1]
    score, truth = p[order], (y[order] == 1.0)
    thresholds = np.r_[np.where(np.diff(score))[0], truth.size - 1]
    tps = np.cumsum(truth * 1.0, dtype=np.float64)[thresholds]
    fps = 1 + thresholds - tps
    return tps, fps


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """``sklearn.metrics.average_precision_score(y, p)``: y (n,) 0/1 with a positive, p (n,)."""
    tps, fps = _binary_counts(y, p)
    # precision_recall_curve, then average_precision_score's step sum
    ps = tps + fps
    precision = np.zeros_like(tps)
    np.divide(tps, ps, out=precision, where=(ps != 0))
    recall = tps / tps[-1]
    precision = np.hstack((precision[::-1], 1))
    recall = np.hstack((recall[::-1], 0))
    return max(0.0, -np.sum(np.diff(recall) * np.array(precision)[:-1]))


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """``sklearn.metrics.roc_auc_score(y, p)``: y (n,) 0/1 with both classes, p (n,)."""
    from scipy.integrate import trapezoid

    tps, fps = _binary_counts(y, p)
    if fps.shape[0] > 2:  # roc_curve(drop_intermediate=True)
        keep = np.where(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])[0]
        fps, tps = fps[keep], tps[keep]
    tps = np.r_[0.0, tps]
    fps = np.r_[0.0, fps]
    return float(trapezoid(tps / tps[-1], fps / fps[-1]))


def mae(y: np.ndarray, p: np.ndarray) -> float:
    """``sklearn.metrics.mean_absolute_error(y, p)`` for y, p (n,)."""
    return float(np.average(np.average(np.abs(p.reshape(-1, 1) - y.reshape(-1, 1)), axis=0)))


def mse(y: np.ndarray, p: np.ndarray) -> float:
    """``sklearn.metrics.mean_squared_error(y, p)`` for y, p (n,)."""
    return float(np.average(np.average((y.reshape(-1, 1) - p.reshape(-1, 1)) ** 2, axis=0)))
