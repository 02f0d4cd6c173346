"""Linear probes on every layer at once: ridge (regression) and logistic (classification).

Both work in the eigenbasis of each layer's standardised training matrix. One
eigendecomposition per (layer, split) serves the whole regularisation grid:

* ridge: with ``Xs = Z V^T`` (``Z = Xs V`` has orthogonal columns, ``Z^T Z = diag(lam)``),
  the coefficients for every alpha are ``V diag(1 / (lam + alpha)) Z^T y``, a diagonal
  rescaling, so the validation predictions of the whole grid are one matrix product;
* logistic: the L2-penalised problem is rotation invariant, so it is solved for ``z = V^T w``
  on ``Z``. There the Böhning bound of the Hessian, ``diag(lam / 4 + 1 / C)``, is diagonal
  and serves as preconditioner of a batched L-BFGS that solves all layers × all ``C`` at once.

Layers that share a width are stacked and processed as one batch (torch, float64).
Dense ridge fits with at least as many rows as columns skip the eigendecomposition: one
tridiagonal reduction per layer serves the grid (:func:`molstrata.probe.ridge_path.ridge_probe`,
whose basis directions are the identity); the formulas above are the same solutions.
Sparse wide rows (count fingerprints: the ECFP4 baseline) are multiplied as SciPy CSR
matrices (:data:`molstrata.probe._rows.SPARSE_DENSITY`); their ``X^T X`` is then exact, and
:mod:`molstrata.probe._sparse` forms their eigenbasis and ridge grids from those products.
Results match scikit-learn's ``StandardScaler`` + ``Ridge(alpha)`` (to round-off) and
``StandardScaler`` + ``LogisticRegression(C=C)`` (to solver tolerance); ``tests/probe``
checks both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from molstrata.core.choice import best_indices
from molstrata.core.errors import ConfigError, check_choice
from molstrata.probe._base import ProbeEstimator, ProbeNotFittedError, _as_layers, _check_rows
from molstrata.probe._rows import _sparse_transposes, _stack_products, stack64
from molstrata.probe._sparse import sparse_eigenbasis, sparse_ridge_probe
from molstrata.probe.device import as_numpy, to_device
from molstrata.probe.ridge_path import ridge_probe
from molstrata.probe.scoring import greater_is_better, score_columns

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: default ridge grid (alpha, on standardised features): 1e-1 ... 1e5, half decades
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-1, 5, 13))
#: default logistic grid (C, scikit-learn's inverse penalty): 1e-4 ... 1, half decades. With
#: standardised features and a summed loss, C = 1 is already a weak penalty for n >= a few
#: hundred molecules; larger C only slows convergence on nearly separable layers.
DEFAULT_CS = tuple(float(c) for c in np.logspace(-4, 0, 9))


def _groups(dims: Sequence[int]) -> list[list[int]]:
    """Layer indices grouped by width, in order of first appearance."""
    out: dict[int, list[int]] = {}
    for k, d in enumerate(dims):
        out.setdefault(int(d), []).append(k)
    return list(out.values())


class _Basis:
    """Standardisation and eigenbasis of a stack of L layers of equal width d.

    The standardised matrix ``Xs = (X - mean) / scale`` is never stored: products with it
    are taken on the raw rows and corrected, which halves memory traffic.

    Attributes (torch float64)
    --------------------------
    X : (L, n, d) raw training rows
    mean, scale : (L, 1, d) train statistics (``StandardScaler``: ddof 0, zero scale → 1)
    V : (L, d, r) orthonormal directions with ``(Xs V)^T (Xs V) = diag(lam)``
    lam : (L, r) eigenvalues (>= 0)
    """

    #: CSR copies of the training rows and their transpose (sparse rows only), ``X^T``
    _sparse: list[Any] | None = None
    _sparse_t: list[Any] | None = None
    _XT: Any = None
    #: float32 standardised training rows (L, n, d) (dense logistic fits; see ``fast_eigh``)
    rows32: Any = None

    def __init__(self, X: np.ndarray, fast_eigh: bool = False):
        """X : (L, n, d) training rows; ``fast_eigh``: eigendecompose the covariance in
        float32 (for logistic fits, where the basis only rotates and preconditions); dense
        rows then also form the covariance in float32, from the float32 standardised rows
        that the solver reuses (``rows32``, :func:`molstrata.probe._logistic.eigh32`)."""
        import torch

        Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64))  # (L, n, d)
        n, d = Xt.shape[1], Xt.shape[2]
        self._sparse_t = _sparse_transposes(Xt)  # fingerprints: X^T per layer in CSR, else None
        if self._sparse_t is not None:  # from the CSR rows, on the CPU (probe._sparse)
            self.X = Xt
            self.mean, self.scale, self.lam, self.V = sparse_eigenbasis(self._sparse_t, n, fast_eigh)
            return
        self.X = Xt = to_device(Xt)  # dense rows: on the probes' device
        self.mean = Xt.mean(dim=1, keepdim=True)
        var = (Xt * Xt).mean(dim=1, keepdim=True) - self.mean * self.mean
        scale = var.clamp_min(0.0).sqrt()
        self.scale = torch.where(scale > 1e-12, scale, torch.ones_like(scale))
        if n >= d and fast_eigh:  # dense logistic: all in float32
            from molstrata.probe._logistic import eigh32

            self.rows32, self.lam, self.V = eigh32(Xt, self.mean, self.scale)
        elif n >= d:  # covariance route: (d, d)
            G = Xt.transpose(1, 2) @ Xt - n * self.mean.transpose(1, 2) @ self.mean
            G = G / (self.scale.transpose(1, 2) @ self.scale)
            G = 0.5 * (G + G.transpose(1, 2))
            if fast_eigh:
                lam, V = (t.to(torch.float64) for t in torch.linalg.eigh(G.to(torch.float32)))
            else:
                lam, V = torch.linalg.eigh(G)
            self.lam = lam.clamp_min(0.0)
            self.V = V.contiguous()  # eigh returns column-major blocks: 15x slower products
        else:  # Gram route: (n, n); directions without variance are zeroed
            Xs = (Xt - self.mean) / self.scale
            lam, U = torch.linalg.eigh(Xs @ Xs.transpose(1, 2))
            keep = lam > lam.amax(dim=1, keepdim=True) * 1e-12
            self.lam = torch.where(keep, lam, torch.zeros_like(lam))
            inv_s = torch.where(keep, lam.clamp_min(1e-300).rsqrt(), torch.zeros_like(lam))
            self.V = (Xs.transpose(1, 2) @ U) * inv_s[:, None, :]

    def apply(self, X: Any, coef: Any) -> Any:
        """``Xs V coef`` for raw rows X (L, m, d) and coef (L, r, k): (L, m, k)."""
        w = (self.V @ coef) / self.scale.transpose(1, 2)  # (L, d, k)
        return X @ w - self.mean @ w

    def apply_train(self, coef: Any) -> Any:
        """:meth:`apply` on the training rows; sparse products when they are sparse (see
        :meth:`keep_transpose`)."""
        Xs = self._sparse
        if Xs is None:
            return self.apply(self.X, coef)
        w = (coef.transpose(1, 2) @ self.V.transpose(1, 2)).transpose(1, 2)  # V coef, short-by-wide
        w = w / self.scale.transpose(1, 2)  # (L, d, k)
        return _stack_products(Xs, w) - self.mean @ w

    def keep_transpose(self) -> None:
        """Prepare the training rows for repeated products in iterative solvers: a contiguous
        ``X^T`` (L, d, n) (2x faster ``X^T r``), or, for sparse rows (count fingerprints), CSR
        copies of ``X`` and ``X^T`` (products 40x faster at 2 % density)."""
        if self._sparse_t is not None:
            self._sparse = [xt.T.tocsr() for xt in self._sparse_t]
        else:
            self._XT = self.X.transpose(1, 2).contiguous()

    def apply_t(self, res: Any) -> Any:
        """``V^T Xs^T res`` on the training rows, for res (L, n, k): (L, r, k)."""
        if self._sparse_t is not None:
            xt_r = _stack_products(self._sparse_t, res)
        else:
            xt_r = (self.X.transpose(1, 2) if self._XT is None else self._XT) @ res
        xt_res = (xt_r - self.mean.transpose(1, 2) * res.sum(dim=1, keepdim=True)) / self.scale.transpose(1, 2)
        if self._sparse_t is not None:  # wide V: (res^T V)^T reads V in its row-major order
            return (xt_res.transpose(1, 2) @ self.V).transpose(1, 2)
        return self.V.transpose(1, 2) @ xt_res

    def drop_rows(self) -> None:
        """Forget the training rows (not needed once the coefficients are fitted)."""
        self.X = self._XT = self._sparse = self._sparse_t = self.rows32 = None


#: logistic fits on features at least this wide eigendecompose their covariance in float32
#: (half the time; dense rows also form it in float32): the basis only rotates and
#: preconditions the problem, so the fit is unchanged to the solver's tolerance (as in the CV,
#: :data:`molstrata.probe.cv.FAST_EIGH`). Every width since session 30 (it was 1024: the ECFP4
#: baseline only).
FAST_EIGH_WIDTH = 1
# ----------------------------------------------------------------------------- ridge
def _ridge_fit(basis: _Basis, y: np.ndarray, alphas: np.ndarray):
    """Ridge coefficients in eigen-coordinates for every alpha: (L, r, n_alpha), intercepts (L, n_alpha)."""
    import torch

    dev = basis.X.device
    yt = torch.from_numpy(np.array(y, dtype=np.float64)).to(dev)
    ybar = yt.mean()
    L = basis.X.shape[0]
    b = basis.apply_t((yt - ybar)[None, :, None].expand(L, -1, 1).contiguous())  # (L, r, 1)
    a = torch.from_numpy(np.asarray(alphas, dtype=np.float64)).to(dev)
    coef = b / (basis.lam[:, :, None] + a[None, None, :])
    intercept = ybar.expand(coef.shape[0], a.shape[0]).clone()
    return coef, intercept


def _ridge_basis(X: np.ndarray, y: np.ndarray, alphas: np.ndarray):
    """:func:`~molstrata.probe.ridge_path.ridge_probe` as ``(basis, coef (L, d, n_alpha),
    intercepts (L, n_alpha))`` whose basis directions are the identity (coefficients on
    standardised features), or None where the eigendecomposition route stays (dense, n < d);
    sparse rows take :func:`molstrata.probe._sparse.sparse_ridge_probe`."""
    import torch

    fit = ridge_probe(X, y, alphas)
    if fit is None:  # sparse rows (count fingerprints): their own tridiagonal route
        fit = sparse_ridge_probe(X, y, alphas)
    if fit is None:
        return None
    basis = _Basis.__new__(_Basis)
    basis.X, basis.mean, basis.scale = fit["X"], fit["mean"], fit["scale"]
    L, d = basis.mean.shape[0], basis.mean.shape[2]
    basis.V = torch.eye(d, dtype=torch.float64, device=basis.mean.device).expand(L, d, d)
    basis.lam = None
    return basis, fit["coef"], fit["intercept"]


# -------------------------------------------------------------------------- logistic
def _logistic_fit(basis: _Basis, y: np.ndarray, Cs: np.ndarray, *, tol: float, max_iter: int,
                  history: int = 10):
    """Batched L-BFGS for L2 logistic regression on every layer × every C:
    :func:`molstrata.probe._logistic.logistic_fit` (float32 products, then a float64 finish;
    sparse rows through CSR products, :class:`molstrata.probe._sparse.SparseRows32`).

    Minimises, per (layer, C), ``sum_i logloss(y_i, Z_i z + b) + ||z||^2 / (2 C)`` (the
    intercept is not penalised, as in scikit-learn's lbfgs), in variables preconditioned by
    the diagonal Böhning bound. Stops each problem when the max-abs gradient of the mean
    loss is below ``tol``.

    Returns coefficients (L, r, n_C), intercepts (L, n_C), iterations used (int).
    """
    from molstrata.probe._logistic import logistic_fit

    if basis._sparse_t is not None:
        basis.keep_transpose()  # CSR rows for the float64 finish's products
    return logistic_fit(basis, y, Cs, tol=tol, max_iter=max_iter, history=history)


# ----------------------------------------------------------------------------- probe
class LinearProbe(ProbeEstimator):
    """Ridge or logistic probe on every layer, regularisation chosen on validation.

    Follows scikit-learn's estimator contract: parameters are stored unchanged by
    ``__init__``, ``fit`` learns (on train only; standardised on train statistics) and
    returns ``self``, learned attributes end in ``_``.

    Parameters
    ----------
    task_type : ``"regression"`` (ridge) or ``"classification"`` (logistic, labels 0/1)
    metric : validation metric used to choose the regularisation; default ``"mae"`` for
        regression and ``"roc-auc"`` for classification
    alphas : ridge penalties (on standardised features), default :data:`DEFAULT_ALPHAS`
    Cs : logistic inverse penalties (scikit-learn's ``C``), default :data:`DEFAULT_CS`
    tol : logistic stopping tolerance on the max-abs gradient of the mean loss
    max_iter : logistic L-BFGS iterations at most

    Attributes
    ----------
    n_layers_ : int
    grid_ : ndarray (n_grid,), the alphas or Cs
    valid_grid_scores_ : ndarray (n_layers, n_grid), validation score of every grid point
    best_index_ : ndarray of int (n_layers,), the chosen grid point per layer
    best_param_ : ndarray (n_layers,), the chosen alpha or C per layer
    valid_scores_ : ndarray (n_layers,), validation score at the chosen grid point
    coef_ : list of ndarray (hidden_dim_k,), per layer, on standardised features
    intercept_ : ndarray (n_layers,)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(60, 5)), rng.normal(size=(60, 8))]
    >>> y = X[1][:, 0] + 0.1 * rng.normal(size=60)
    >>> p = LinearProbe().fit([x[:40] for x in X], y[:40], [x[40:] for x in X], y[40:])
    >>> p.predict([x[40:] for x in X]).shape
    (2, 20)
    """

    def __init__(
        self,
        task_type: str = "regression",
        metric: str | None = None,
        alphas: Sequence[float] | None = None,
        Cs: Sequence[float] | None = None,
        tol: float = 1e-6,
        max_iter: int = 1000,
    ):
        self.task_type = task_type
        self.metric = metric
        self.alphas = alphas
        self.Cs = Cs
        self.tol = tol
        self.max_iter = max_iter

    # ------------------------------------------------------------------ fit
    def _metric(self) -> str:
        check_choice("task_type", self.task_type, ("regression", "classification"))
        default = "mae" if self.task_type == "regression" else "roc-auc"
        metric = self.metric or default
        ok = ("mae", "rmse", "spearman") if self.task_type == "regression" else ("roc-auc", "pr-auc")
        check_choice(f"metric for {self.task_type}", metric, ok)
        return metric

    def _fit_layers(self, X_train: Sequence[np.ndarray] | np.ndarray, y_train: ArrayLike,
                    X_valid: Sequence[np.ndarray] | np.ndarray, y_valid: ArrayLike) -> LinearProbe:
        """Fit every layer on train, score every grid point on valid, keep the best.

        Parameters
        ----------
        X_train : sequence of n_layers arrays (n_train, hidden_dim_k), or ``LayerEmbeddings``
        y_train : ndarray (n_train,)
        X_valid : sequence of n_layers arrays (n_valid, hidden_dim_k)
        y_valid : ndarray (n_valid,)
        """
        metric = self._metric()
        Xtr, Xva = _as_layers(X_train), _as_layers(X_valid)
        ytr = np.asarray(y_train, dtype=np.float64).reshape(-1)
        yva = np.asarray(y_valid, dtype=np.float64).reshape(-1)
        if len(Xtr) != len(Xva):
            raise ConfigError(f"{len(Xtr)} train layers but {len(Xva)} valid layers")
        _check_rows(Xtr, len(ytr), "train")
        _check_rows(Xva, len(yva), "valid")
        for name, yv in (("train", ytr), ("valid", yva)):
            if not np.isfinite(yv).all():
                raise ConfigError(f"{name} labels contain NaN/inf at rows "
                                  f"{np.flatnonzero(~np.isfinite(yv))[:10].tolist()}")
        classification = self.task_type == "classification"
        if classification:
            for name, yv in (("train", ytr), ("valid", yva)):
                if not np.isin(yv, (0.0, 1.0)).all() or len(np.unique(yv)) < 2:
                    raise ConfigError(f"{name} labels must be 0/1 with both classes present")
        chosen = self.Cs if classification else self.alphas
        if chosen is None:
            chosen = DEFAULT_CS if classification else DEFAULT_ALPHAS
        grid = np.asarray(chosen, dtype=np.float64)
        if grid.ndim != 1 or grid.size == 0 or (grid <= 0).any():
            raise ConfigError(f"regularisation grid must be positive numbers, got {grid}")
        n_layers = len(Xtr)
        self._bases: list[tuple[list[int], _Basis, Any, Any]] = []
        self.n_iter_ = 0
        valid_grid = np.empty((n_layers, grid.size))
        for idx in _groups([x.shape[1] for x in Xtr]):
            width = Xtr[idx[0]].shape[1]
            rows = stack64([Xtr[k] for k in idx])
            fit = None if classification else _ridge_basis(rows, ytr, grid)  # no eigh (ridge_path)
            basis = fit[0] if fit else _Basis(rows, fast_eigh=classification and width >= FAST_EIGH_WIDTH)
            if classification:
                coef, icpt, it = _logistic_fit(basis, ytr, grid, tol=self.tol, max_iter=self.max_iter)
                self.n_iter_ = max(self.n_iter_, it)
            elif fit:
                coef, icpt = fit[1], fit[2]
            else:
                coef, icpt = _ridge_fit(basis, ytr, grid)
            basis.drop_rows()  # training rows are not needed after fitting
            self._bases.append((idx, basis, coef, icpt))
            pred = self._grid_output(basis, coef, icpt, stack64([Xva[k] for k in idx]))
            for j, k in enumerate(idx):
                valid_grid[k] = score_columns(metric, yva, pred[j])
        self.metric_ = metric
        self.grid_ = grid
        self.n_layers_ = n_layers
        self.valid_grid_scores_ = valid_grid
        # ties (within the tolerance of core.choice): the first grid point
        best = best_indices(valid_grid, greater_is_better(metric))
        self.best_index_ = best.astype(int)
        self.best_param_ = grid[best]
        self.valid_scores_ = valid_grid[np.arange(n_layers), best]
        self.coef_ = [None] * n_layers
        self.intercept_ = np.empty(n_layers)
        for idx, basis, coef, icpt in self._bases:
            for j, k in enumerate(idx):
                c = coef[j, :, best[k]]
                self.coef_[k] = as_numpy(basis.V[j] @ c).copy()  # on standardised features
                self.intercept_[k] = float(icpt[j, best[k]])
        return self

    def _grid_output(self, basis: _Basis, coef: Any, icpt: Any, X: np.ndarray) -> np.ndarray:
        """Predictions (probabilities for classification) of the whole grid: (L, m, n_grid)."""
        import torch

        Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64)).to(basis.mean.device)
        out = basis.apply(Xt, coef) + icpt[:, None, :]
        if self.task_type == "classification":
            out = torch.sigmoid(out)
        return as_numpy(out)

    # --------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "best_index_"):
            raise ProbeNotFittedError("LinearProbe is not fitted; call fit first")

    def predict_grid(self, X: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Predictions of every grid point: ndarray (n_layers, n_molecules, n_grid).

        Probabilities of class 1 for classification.
        """
        self._check_fitted()
        layers = _as_layers(X)
        if len(layers) != self.n_layers_:
            raise ConfigError(f"got {len(layers)} layers, the probe was fit on {self.n_layers_}")
        n = layers[0].shape[0]
        _check_rows(layers, n, "predict")
        out = np.empty((self.n_layers_, n, self.grid_.size))
        for idx, basis, coef, icpt in self._bases:
            pred = self._grid_output(basis, coef, icpt, stack64([layers[k] for k in idx]))
            for j, k in enumerate(idx):
                out[k] = pred[j]
        return out

    def _predict_layers(self, X: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Predictions at each layer's chosen regularisation: ndarray (n_layers, n_molecules).

        Values for regression, probabilities of class 1 for classification.
        """
        grid = self.predict_grid(X)
        return grid[np.arange(self.n_layers_), :, self.best_index_]
