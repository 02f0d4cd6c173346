"""The linear probe on sparse count rows (the ECFP4 baseline's 2048-bit counts), cheaper.

Two routes of :class:`~molstrata.probe.linear.LinearProbe` for rows that
:func:`~molstrata.probe._rows._sparse_transposes` finds sparse (CSR products):

* **ridge**, the whole alpha grid from one tridiagonal reduction
  (:func:`molstrata.probe.ridge_path.ridge_grid_np`) instead of an eigendecomposition (a
  third of its time for d = 2048): of the standardised covariance ``Xs^T Xs`` (d, d) when
  n >= d (``X^T X`` from CSR products: exact for integer counts), else of the Gram matrix
  ``Xs Xs^T`` (n, n), whose solutions ``a(alpha) = (Xs Xs^T + alpha I)^-1 (y - ybar)`` give
  the same coefficients ``w(alpha) = Xs^T a(alpha)``;
* **logistic**, the float32 phase of the two-precision solver
  (:func:`molstrata.probe._logistic.logistic_fit`) on float32 CSR rows and a float32 copy of
  the eigenbasis (:class:`SparseRows32`): the products with the (d, r) basis, which cost
  most of each iteration, read half the bytes; the float64 finish checks the stopping rule
  on exact float64 products as for dense rows.

The solutions are the eigenbasis routes' (ridge: to round-off; logistic: to the solver's
tolerance); their bits differ, so the baseline's cells carry
:data:`molstrata.probe._numerics.SPARSE_NUMERICS` in their key.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from molstrata.probe._rows import _sparse_transposes, _stack_products


def _standardise(xt: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``StandardScaler``'s mean and scale (ddof 0; zero scale -> 1) of the rows whose
    transpose is the CSR matrix xt (d, n): two ndarrays (d,)."""
    mean = np.asarray(xt.sum(axis=1), dtype=np.float64).ravel() / n
    sq = np.asarray(xt.multiply(xt).sum(axis=1), dtype=np.float64).ravel() / n
    scale = np.sqrt(np.clip(sq - mean * mean, 0.0, None))
    return mean, np.where(scale > 1e-12, scale, 1.0)


def _centred_cross(xt: Any, mean: np.ndarray, n: int) -> np.ndarray:
    """``X^T X - n m m^T`` (d, d) float64 from the CSR transpose xt (d, n) (exact CSR product
    for integer counts)."""
    G = (xt @ xt.T).toarray()
    G -= n * np.outer(mean, mean)
    return G


def _standardised_gram(xt: Any, mean: np.ndarray, scale: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
    """For n < d: ``A = X S^-1`` (CSR (n, d)), ``ms = m / s`` (d,) and the standardised Gram
    matrix ``Xs Xs^T = A A^T - u 1^T - 1 u^T + |ms|^2`` (n, n) with ``u = A ms``."""
    ms = mean / scale
    A = xt.T.tocsr().multiply(1.0 / scale[None, :]).tocsr()
    u = A @ ms
    K = (A @ A.T).toarray()
    K -= u[:, None]
    K -= u[None, :]
    K += float(ms @ ms)
    return A, ms, K


def _ridge_layer(xt: Any, yc: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, ...]:
    """One layer's ridge coefficients on standardised features for every alpha.

    Parameters
    ----------
    xt : SciPy CSR (d, n), the training rows' transpose
    yc : ndarray (n,), centred labels
    alphas : ndarray (n_alpha,), positive

    Returns
    -------
    mean, scale (d,) and coef (d, n_alpha)
    """
    from molstrata.probe.ridge_path import ridge_grid_np

    d, n = xt.shape
    mean, scale = _standardise(xt, n)
    if n >= d:  # covariance (d, d): Gs = S^-1 (X^T X - n m m^T) S^-1
        G = _centred_cross(xt, mean, n)
        G /= scale[:, None]
        G /= scale[None, :]
        c = (xt @ yc - mean * yc.sum()) / scale  # Xs^T yc
        return mean, scale, ridge_grid_np(G, c, alphas)
    A, ms, K = _standardised_gram(xt, mean, scale)
    dual = ridge_grid_np(K, yc, alphas)  # (n, n_alpha)
    return mean, scale, np.asarray(A.T @ dual) - ms[:, None] * dual.sum(axis=0)[None, :]


def sparse_ridge_probe(X: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> dict[str, Any] | None:
    """The ridge fits of every alpha on sparse rows, shaped as
    :func:`molstrata.probe.ridge_path.ridge_probe`'s; None for rows that are not sparse.

    Parameters
    ----------
    X : ndarray float64 (L, n, d), the training rows of L layers of equal width
    y : ndarray (n,), labels
    alphas : ndarray (n_alpha,), positive

    Returns
    -------
    dict of torch float64 tensors on the probes' device: ``X`` (L, n, d), ``mean`` and
    ``scale`` (L, 1, d), ``coef`` (L, d, n_alpha) on standardised features, ``intercept``
    (L, n_alpha) (the label mean)
    """
    import torch

    from molstrata.probe.device import to_device

    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64))
    mats = _sparse_transposes(Xt)
    if mats is None:
        return None
    a = np.asarray(alphas, dtype=np.float64).reshape(-1)
    yc = np.asarray(y, dtype=np.float64).reshape(-1)
    ybar = float(yc.mean())
    yc = yc - ybar
    L, d = len(mats), X.shape[2]
    mean, scale, coef = np.empty((L, 1, d)), np.empty((L, 1, d)), np.empty((L, d, a.size))
    for j, xt in enumerate(mats):
        mean[j, 0], scale[j, 0], coef[j] = _ridge_layer(xt, yc, a)
    return {"X": to_device(Xt), "mean": to_device(torch.from_numpy(mean)),
            "scale": to_device(torch.from_numpy(scale)), "coef": to_device(torch.from_numpy(coef)),
            "intercept": to_device(torch.full((L, a.size), ybar, dtype=torch.float64))}


def sparse_eigenbasis(mats: list[Any], n: int, fast_eigh: bool) -> tuple[Any, ...]:
    """Standardisation and eigenbasis of L layers of sparse rows, from their CSR transposes
    (no dense float64 copy of the rows): the covariance ``Xs^T Xs`` (d, d) when n >= d
    (eigendecomposed in float32 with ``fast_eigh``), else the Gram matrix ``Xs Xs^T`` (n, n),
    whose directions without variance are zeroed (float64).

    Parameters
    ----------
    mats : L SciPy CSR matrices (d, n), the training rows' transposes
    n : the number of rows; fast_eigh : see above

    Returns
    -------
    torch float64: mean, scale (L, 1, d); lam (L, r) (>= 0); V (L, d, r) with
    ``(Xs V)^T (Xs V) = diag(lam)`` (r = d when n >= d, else n)
    """
    import torch

    out: list[tuple[Any, ...]] = []
    for xt in mats:
        mean, scale = _standardise(xt, n)
        d = xt.shape[0]
        if n >= d:
            G = _centred_cross(xt, mean, n)
            G /= np.outer(scale, scale)
            G = torch.from_numpy(0.5 * (G + G.T))
            lam, V = (torch.linalg.eigh(G.to(torch.float32)) if fast_eigh else torch.linalg.eigh(G))
            out.append((mean, scale, lam.to(torch.float64).clamp_min(0.0).numpy(),
                        V.to(torch.float64).contiguous().numpy()))
            continue
        A, ms, K = _standardised_gram(xt, mean, scale)
        lam, U = (t.numpy() for t in torch.linalg.eigh(torch.from_numpy(0.5 * (K + K.T))))
        keep = lam > lam.max() * 1e-12
        inv_s = np.where(keep, 1.0 / np.sqrt(np.where(keep, lam, 1.0)), 0.0)
        V = (np.asarray(A.T @ U) - ms[:, None] * U.sum(axis=0)[None, :]) * inv_s[None, :]  # Xs^T U / sqrt(lam)
        out.append((mean, scale, np.where(keep, lam, 0.0), np.ascontiguousarray(V)))
    mean, scale, lam, V = (np.stack(t) for t in zip(*out, strict=True))
    return (torch.from_numpy(mean[:, None, :]), torch.from_numpy(scale[:, None, :]), torch.from_numpy(lam),
            torch.from_numpy(V))


class SparseRows32:
    """float32 products of a sparse :class:`~molstrata.probe.linear._Basis` (the float32 phase
    of :func:`molstrata.probe._logistic.logistic_fit`): CSR rows and their transpose, the
    eigenbasis V, the means and scales, all in float32.

    Attributes
    ----------
    X, XT : L SciPy CSR float32 matrices (n, d) and (d, n)
    V : torch float32 (L, d, r); mean, scale : torch float32 (L, 1, d)
    """

    def __init__(self, basis: Any):
        import torch

        self.XT = [m.astype(np.float32) for m in basis._sparse_t]
        self.X = [m.T.tocsr() for m in self.XT]
        self.V = basis.V.to(torch.float32).contiguous()
        self.mean = basis.mean.to(torch.float32)
        self.scale = basis.scale.to(torch.float32)

    def apply(self, coef: Any) -> Any:
        """``Xs V coef`` for coef (L, r, k) float64: (L, n, k) float64."""
        import torch

        # V coef as (coef^T V^T)^T: short-by-wide, 3x faster in float32 than V @ coef
        w = (coef.transpose(1, 2).to(torch.float32) @ self.V.transpose(1, 2)).transpose(1, 2)
        w = w / self.scale.transpose(1, 2)  # (L, d, k)
        return (_stack_products(self.X, w) - self.mean @ w).to(torch.float64)

    def apply_t(self, res: Any) -> Any:
        """``V^T Xs^T res`` for res (L, n, k) float64: (L, r, k) float64 (as
        ``(res^T Xs V)^T``: the row-major V is read in order)."""
        import torch

        r32 = res.to(torch.float32)
        xt_r = _stack_products(self.XT, r32) - self.mean.transpose(1, 2) * r32.sum(dim=1, keepdim=True)
        xt_res = xt_r / self.scale.transpose(1, 2)  # (L, d, k)
        return (xt_res.transpose(1, 2) @ self.V).transpose(1, 2).to(torch.float64)

