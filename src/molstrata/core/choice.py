"""The one rule behind every discrete choice of a probe: which layer, penalty, temperature,
number of layers, epoch or learning rate.

Scores computed on different machines, thread counts or executors can differ in their last
bits (~1e-14). Choosing the strict arg-best would let such noise flip a near-tie, so every
choice goes through :func:`best_index`: among the candidates whose score is within a
relative tolerance of the best one, the **first** in the caller's canonical order wins. Each
caller lists its candidates in the documented order of preference: the shallowest layer,
the first grid point, the most concentrated temperature, the smallest m, the earliest epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: scores within this relative distance of the best count as tied with it
RTOL = 1e-9
#: and within this absolute distance (scores near 0)
ATOL = 1e-12


def best_index(
    scores: Sequence[float] | np.ndarray, higher_is_better: bool, *, rtol: float = RTOL,
    atol: float = ATOL,
) -> int | None:
    """Index of the first candidate whose score ties the best one within tolerance.

    Parameters
    ----------
    scores : shape (n_candidates,), in the caller's canonical order; NaN/inf never win
    higher_is_better : ``True`` for AUCs and correlations, ``False`` for errors
    rtol, atol : a candidate ties the best when ``|s - best| <= atol + rtol * |best|``

    Returns
    -------
    int, or ``None`` when no score is finite

    Examples
    --------
    >>> best_index([0.5, 0.7, 0.7 + 1e-14], higher_is_better=True)
    1
    >>> best_index([0.3, 0.2 + 1e-15, 0.2], higher_is_better=False)
    1
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    finite = np.isfinite(s)
    if not finite.any():
        return None
    signed = s if higher_is_better else -s
    best = float(signed[finite].max())
    tied = finite & (signed >= best - (atol + rtol * abs(best)))
    return int(np.flatnonzero(tied)[0])


def best_indices(scores: np.ndarray, higher_is_better: bool, *, rtol: float = RTOL,
                 atol: float = ATOL) -> np.ndarray:
    """:func:`best_index` of every row of ``scores`` (n_rows, n_candidates); rows with no
    finite score give 0.

    Returns
    -------
    ndarray of int (n_rows,)
    """
    s = np.asarray(scores, dtype=np.float64)
    return np.asarray([best_index(row, higher_is_better, rtol=rtol, atol=atol) or 0 for row in s],
                      dtype=int)


def clearly_better(score: float, best: float, higher_is_better: bool, *, rtol: float = RTOL,
                   atol: float = ATOL) -> bool:
    """For choices made as candidates arrive (epochs, learning rates): whether ``score``
    beats the best so far by more than the tolerance of :func:`best_index`, so that the
    earlier candidate keeps a tie. NaN is never better; anything finite beats a NaN best.
    """
    if not np.isfinite(score):
        return False
    if not np.isfinite(best):
        return True
    margin = atol + rtol * abs(best)
    return score > best + margin if higher_is_better else score < best - margin
