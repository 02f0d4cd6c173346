"""Linear centred kernel alignment (CKA) between layers.

``CKA(X, Y) = ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F ‖Yᵀ Y‖_F)`` on column-centred ``X`` (n, d_x) and
``Y`` (n, d_y) (Kornblith et al., 2019). It is 1 for ``Y = X Q`` with ``Q`` orthogonal and
invariant to isotropic scaling, but not to arbitrary invertible maps.

The plain estimator is biased upwards for small ``n`` relative to the width: two unrelated
random representations do not score 0. The **debiased** variant replaces each HSIC by its
unbiased U-statistic (Song et al., 2012), and the **minibatch** variant (Nguyen et al., 2021)
averages unbiased HSICs over random minibatches, so memory stays ``O(batch_size²)`` for any
``n``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from molstrata.analysis._utils import AnalysisInputError, as_array
from molstrata.core.errors import check_choice

CKA_METHODS = ("linear", "debiased", "minibatch")


def _centre(X: np.ndarray) -> np.ndarray:
    return X - X.mean(axis=0, keepdims=True)


def _pair(X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    X, Y = as_array(X, "X"), as_array(Y, "Y")
    if X.shape[0] != Y.shape[0]:
        raise AnalysisInputError(
            f"X and Y must have the same rows (molecules), got {X.shape[0]} and {Y.shape[0]}"
        )
    return X, Y


def hsic_unbiased(K: np.ndarray, L: np.ndarray) -> float:
    """Unbiased HSIC estimator of Song et al. (2012) from two (n, n) Gram matrices, n ≥ 4.

    ``[tr(K̃L̃) + 1ᵀK̃1 · 1ᵀL̃1 / ((n−1)(n−2)) − 2/(n−2) · 1ᵀK̃L̃1] / (n(n−3))`` with
    ``K̃``, ``L̃`` the Gram matrices with zeroed diagonals.
    """
    n = K.shape[0]
    if n < 4:
        raise AnalysisInputError(f"unbiased HSIC needs at least 4 samples, got {n}")
    Kt = K - np.diag(np.diag(K))
    Lt = L - np.diag(np.diag(L))
    sk, sl = Kt.sum(axis=0), Lt.sum(axis=0)
    value = (
        (Kt * Lt).sum()
        + sk.sum() * sl.sum() / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (sk @ sl)
    )
    return float(value / (n * (n - 3)))


def _ratio(xy: float, xx: float, yy: float) -> float:
    denom = np.sqrt(xx * yy) if xx > 0 and yy > 0 else 0.0
    return float(xy / denom) if denom > 0 else float("nan")


def linear_cka(X: Any, Y: Any, debiased: bool = False) -> float:
    """Linear CKA between two representations of the same molecules.

    Parameters
    ----------
    X : array-like (numpy or torch) of shape (n_molecules, dim_x)
    Y : array-like of shape (n_molecules, dim_y)
    debiased : use unbiased HSIC estimates (needs n_molecules ≥ 4); near 0 for unrelated
        representations even when n_molecules is small against the widths

    Returns
    -------
    float, 1 for identical representations up to rotation and isotropic scaling; NaN when
    either representation is constant.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> round(linear_cka(X, 3.0 * X[:, ::-1]), 6)
    1.0
    """
    X, Y = _pair(X, Y)
    X, Y = _centre(X), _centre(Y)
    if debiased:
        K, L = X @ X.T, Y @ Y.T
        return _ratio(hsic_unbiased(K, L), hsic_unbiased(K, K), hsic_unbiased(L, L))
    xy = np.linalg.norm(Y.T @ X) ** 2
    return _ratio(xy, np.linalg.norm(X.T @ X) ** 2, np.linalg.norm(Y.T @ Y) ** 2)


def minibatch_cka(
    X: Any, Y: Any, batch_size: int = 256, seed: int = 0
) -> float:
    """Minibatch linear CKA (Nguyen et al., 2021): unbiased HSICs summed over minibatches.

    Rows are shuffled with ``seed`` and split into batches of ``batch_size`` (a last batch
    with fewer than 4 rows is dropped); features are centred over the whole set first.

    Parameters
    ----------
    X : array-like of shape (n_molecules, dim_x)
    Y : array-like of shape (n_molecules, dim_y)
    batch_size : rows per minibatch, ≥ 4
    seed : seed of the row shuffle

    Returns
    -------
    float
    """
    return float(cka_matrix([X, Y], method="minibatch", batch_size=batch_size, seed=seed)[0, 1])


def cka_matrix(
    layers: Sequence[Any],
    method: str = "linear",
    *,
    batch_size: int = 256,
    seed: int = 0,
) -> np.ndarray:
    """CKA between every pair of layers.

    Parameters
    ----------
    layers : sequence of n_layers arrays, each (n_molecules, dim_k); widths may differ
    method : ``"linear"`` (plain estimator), ``"debiased"`` (unbiased HSIC on the full
        Gram matrices) or ``"minibatch"`` (unbiased HSIC summed over minibatches; memory
        ``O(n_layers · batch_size²)``)
    batch_size, seed : minibatch size and shuffle seed (``"minibatch"`` only)

    Returns
    -------
    ndarray of shape (n_layers, n_layers), symmetric, ones on the diagonal.
    """
    check_choice("CKA method", method, CKA_METHODS)
    arrs = [_centre(as_array(z, f"layer {k}")) for k, z in enumerate(layers)]
    rows = {a.shape[0] for a in arrs}
    if len(rows) != 1:
        raise AnalysisInputError(f"all layers need the same molecules (rows), got {sorted(rows)}")
    n = rows.pop()
    n_layers = len(arrs)
    if method == "minibatch":
        if batch_size < 4:
            raise AnalysisInputError(f"batch_size must be at least 4, got {batch_size}")
        order = np.random.default_rng(seed).permutation(n)
        H = np.zeros((n_layers, n_layers))
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 4:
                continue
            grams = [a[idx] @ a[idx].T for a in arrs]
            for i in range(n_layers):
                for j in range(i, n_layers):
                    H[i, j] += hsic_unbiased(grams[i], grams[j])
        H = np.triu(H) + np.triu(H, 1).T
    elif method == "debiased":
        grams = [a @ a.T for a in arrs]
        H = np.array([[hsic_unbiased(gi, gj) for gj in grams] for gi in grams])
    elif n <= 2048:
        # Gram form: <K_i, K_j>_F = ‖X_jᵀ X_i‖²_F; cheaper than the feature form for moderate n
        # (memory n_layers · n² floats)
        G = np.stack([(a @ a.T).ravel() for a in arrs])
        H = G @ G.T
    else:
        H = np.array([[np.linalg.norm(aj.T @ ai) ** 2 for aj in arrs] for ai in arrs])
    d = np.sqrt(np.clip(np.diag(H), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = H / np.outer(d, d)
    np.fill_diagonal(out, np.where(d > 0, 1.0, np.nan))
    return out
