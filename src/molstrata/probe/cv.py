"""Scaffold-grouped cross-validation inside ``train_val``: layer scores without the test set.

TDC's validation splits are small (58 molecules for ``hia_hou``), so one validation score
per layer is a noisy guide. The CV strategies (``cv``, ``cv-1se``, ``concat``, ``ensemble``)
score every layer on k scaffold-disjoint folds of the seed's ``train ∪ valid`` molecules
(``train_val`` minus the rows PyTDC omits), never touching the test set.

Folds (:func:`scaffold_folds`)
------------------------------
Rows sharing a Bemis-Murcko scaffold (:func:`scaffold_group_ids`, computed by the data layer's
:func:`~molstrata.data._split.cached_scaffold_groups`) always fall in the same fold. Groups are
dealt as scikit-learn's ``GroupKFold`` does (largest first, each to the currently smallest
fold), with ties between groups of equal size broken by a permutation drawn from
``numpy.random.default_rng(seed)``: the split seed. Most scaffold groups are singletons, so
another seed gives other folds; the same seed gives the same folds.

Fits (:func:`cross_validate`)
-----------------------------
The regularisation stays nested: it is never chosen on the molecules it is scored on. For
each pair of neighbouring folds ``(a, b) = (i, i + 1 mod k)``, ``i = 0..k-1``, one probe is fit
on the other ``k - 2`` folds for the whole regularisation grid (the linear probe does every
layer and every grid value in one batched pass). Its grid predictions on ``a`` and ``b`` give
two nested estimates: the score on ``a`` at the grid value best on ``b``, and the score on
``b`` at the grid value best on ``a``. Each fold is thus held out twice (in pairs ``(f-1, f)``
and ``(f, f+1)``); its score is the mean of its two estimates and its out-of-fold prediction
the mean of its two predictions. This costs k fits of ``(k-2)/k`` of the data (60 % for
k = 5), half of what an outer loop with a separate inner split costs. MLP and GBDT probes,
which tune by early stopping rather than over a grid, are fit twice per pair (stopped on
``b`` and scored on ``a``, then the reverse).

The sweep's CV (:func:`molstrata.probe.strategies.choose`) tunes over every other point of
the probe's regularisation grid (:func:`~molstrata.probe.strategies.coarse_grid`), a decade
apart with the defaults.

Logistic fits in the CV stop at :data:`CV_TOL` (max-abs gradient of the mean loss; a
``tol`` in ``params`` overrides it) instead of the probe's final ``1e-6``: on MiniMol / ``cyp2c9_veith`` the mean CV scores moved by at
most 3e-4 (one fold score by 1.2e-3), the chosen layer did not change, and the CV took less
than half the time.

The linear probe's CV is computed from per-fold sums (:class:`_FoldStats`): the Gram matrix
of each fold is formed once (a symmetric rank update, BLAS ``dsyrk``), and the ridge fits of
any union of folds, for the whole grid, cost one ``(d, d)`` tridiagonal reduction per layer
(:mod:`molstrata.probe.ridge_path`; numerics version :data:`~molstrata.probe._numerics.NUMERICS`,
held by the cached CV results), so a pair costs no pass over the training rows for ridge.
Logistic CV fits (and fewer rows than columns) use the probe's standardised eigenbasis.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from molstrata.core.choice import best_index
from molstrata.core.errors import ConfigError
from molstrata.data._split import cached_scaffold_groups
from molstrata.probe._base import _as_layers
from molstrata.probe._rows import stack64
from molstrata.probe.device import as_numpy, to_device
from molstrata.probe.estimators import make_probe
from molstrata.probe.linear import (
    DEFAULT_ALPHAS,
    DEFAULT_CS,
    _Basis,
    _groups,
    _logistic_fit,
    _ridge_fit,
)
from molstrata.probe.ridge_path import gram, ridge_grid_from_sums
from molstrata.probe.scoring import greater_is_better, score_columns

#: eigendecompose the logistic fits' bases in float32 inside the CV: the basis only rotates
#: and preconditions the problem, so the fits are unchanged to ~1e-6, and the wide (concat)
#: eigenproblems take half the time. Ridge, whose solution reads the eigenvalues, keeps float64.
FAST_EIGH = True
#: the probe the CV fits on classification tasks when the probe is linear: ``"ridge"``, ridge
#: regression on the 0/1 labels (a least-squares linear discriminant; closed form, so one
#: eigendecomposition per layer and pair and no iterations), scored with the task's metric
#: (roc-auc and pr-auc only rank the predictions); or ``"logistic"``, the final probe itself.
#: Measured on MiniMol, seed 1, the 13 ADMET classification tasks, without the test set:
#: ``cv`` chose the same layer with both in 10 tasks (``cv-1se``: 11), and in the other
#: tasks the ridge choice's logistic CV score was within 0.01 of the logistic CV's best; the
#: ridge CV took 2.5-3x less time. The final probes stay logistic.
CLASSIFICATION_CV_PROBE = "ridge"
#: default number of CV folds
DEFAULT_FOLDS = 5
#: stopping tolerance of the logistic fits inside the CV (the final probe keeps its own)
CV_TOL = 1e-3


# ------------------------------------------------------------------------------ folds
def scaffold_group_ids(smiles: Sequence[str]) -> np.ndarray:
    """Bemis-Murcko scaffold group of each molecule, as the data layer computes it.

    The groups are computed (and cached on disk) for the sorted distinct SMILES, so the ids
    do not depend on the order or the seed of the split the molecules come from. A SMILES
    RDKit cannot parse gets a group of its own.

    Parameters
    ----------
    smiles : sequence of str, length n_molecules

    Returns
    -------
    ndarray of int64 (n_molecules,), equal ids for equal scaffolds
    """
    uniq = sorted(set(map(str, smiles)))
    groups = cached_scaffold_groups(uniq)
    gid = np.full(len(uniq), -1, dtype=np.int64)
    for g, rows in enumerate(groups.groups):
        gid[list(rows)] = g
    n_groups = len(groups.groups)
    for j, row in enumerate(np.asarray(groups.failed, dtype=np.int64)):
        gid[row] = n_groups + j
    lookup = dict(zip(uniq, gid.tolist(), strict=True))
    return np.fromiter((lookup[str(s)] for s in smiles), dtype=np.int64, count=len(smiles))


def scaffold_folds(group_ids: np.ndarray, k: int = DEFAULT_FOLDS, seed: int = 1) -> np.ndarray:
    """Assign rows to k scaffold-disjoint folds of near-equal size, seeded.

    Parameters
    ----------
    group_ids : ndarray of int (n_molecules,), e.g. from :func:`scaffold_group_ids`
    k : number of folds (>= 3: each CV fit leaves two folds out)
    seed : the split seed; it orders groups of equal size before they are dealt

    Returns
    -------
    ndarray of int64 (n_molecules,), the fold (0..k-1) of each row

    Raises
    ------
    ConfigError
        ``k < 3`` or fewer scaffold groups than folds.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 3:
        raise ConfigError(f"--cv-folds must be an integer >= 3 (each CV fit holds out two folds), got {k!r}")
    groups = np.asarray(group_ids).reshape(-1)
    uniq, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if uniq.size < k:
        raise ConfigError(f"{uniq.size} scaffold group(s) among {groups.size} molecules: too few for "
                          f"{k} scaffold-disjoint CV folds (use fewer --cv-folds or --selection valid)")
    rng = np.random.default_rng(int(seed) % 2**32)
    order = rng.permutation(uniq.size)
    order = order[np.argsort(-sizes[order], kind="stable")]  # largest first, ties shuffled
    load = np.zeros(k, dtype=np.int64)
    fold_of_group = np.empty(uniq.size, dtype=np.int64)
    for g in order:
        f = int(np.argmin(load))  # ties: the lowest fold
        fold_of_group[g] = f
        load[f] += sizes[g]
    return fold_of_group[inverse]


def fold_pairs(k: int) -> list[tuple[int, int]]:
    """The held-out pairs ``(i, i + 1 mod k)`` of :func:`cross_validate`, i = 0..k-1."""
    return [(i, (i + 1) % k) for i in range(k)]


# ------------------------------------------------------------------------------- fits
@dataclass(frozen=True)
class CVResult:
    """Nested, scaffold-grouped CV of a probe on several feature sets (columns).

    Attributes
    ----------
    folds : ndarray of int (n_molecules,), the fold of each ``train_val`` row
    fold_scores : ndarray (k, n_columns), held-out score of each feature set in each fold
        (mean of the fold's two nested estimates; NaN when undefined, e.g. one class only)
    oof : ndarray (n_molecules, n_columns), out-of-fold predictions (mean of the two each
        row gets); probabilities of class 1 for classification
    """

    folds: np.ndarray
    fold_scores: np.ndarray
    oof: np.ndarray

    @property
    def k(self) -> int:
        return int(self.fold_scores.shape[0])


def _safe_scores(metric: str, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """score_columns, NaN where the score is undefined (one class in a held-out fold)."""
    try:
        return np.atleast_1d(score_columns(metric, y, pred))
    except ValueError:
        return np.full(pred.shape[1] if pred.ndim == 2 else 1, np.nan)


def _best(scores: np.ndarray, metric: str) -> int | None:
    """Index of the best finite score (first on ties within tolerance: :mod:`molstrata.core.choice`),
    None when all are NaN."""
    return best_index(scores, greater_is_better(metric))


def _both_classes(y: np.ndarray) -> bool:
    return bool(np.isin(y, (0.0, 1.0)).all() and np.unique(y).size == 2)


class _FoldStats:
    """Per-fold sums of one stack of L equal-width layers, so that the standardised
    eigenbasis of any union of folds costs one (d, d) eigendecomposition per layer and no
    pass over the rows (the linear probe's covariance route, :class:`~molstrata.probe.linear._Basis`).

    Attributes (torch float64, per fold f)
    --------------------------------------
    X[f] : (L, n_f, d) the fold's rows
    n[f] : int; sx[f] : (L, 1, d) column sums; G[f] : (L, d, d) ``X^T X``;
    sy[f] : float label sum; sxy[f] : (L, d, 1) ``X^T y``
    """

    def __init__(self, layers: Sequence[np.ndarray], y: np.ndarray, folds: np.ndarray, k: int):
        import torch

        self.X, self.n, self.sx, self.G, self.sy, self.sxy = [], [], [], [], [], []
        for f in range(k):
            rows = np.flatnonzero(folds == f)
            Xf = to_device(torch.from_numpy(stack64(layers, rows)))
            yf = to_device(torch.from_numpy(np.ascontiguousarray(y[rows], dtype=np.float64)))
            self.X.append(Xf)
            self.n.append(rows.size)
            self.sx.append(Xf.sum(dim=1, keepdim=True))
            self.G.append(gram(Xf))  # symmetric rank update: half a matrix product
            self.sy.append(float(yf.sum()))
            self.sxy.append(Xf.transpose(1, 2) @ yf[None, :, None])

    def _moments(self, use: Sequence[int]):
        """Sums of the rows of folds ``use``: ``(n, mean (L, 1, d), scale (L, 1, d), ybar,
        c (L, d, 1) = Xs^T (y - ybar))``; scales of constant columns are 1."""
        import torch

        n = sum(self.n[f] for f in use)
        sx = sum(self.sx[f] for f in use)
        diag = sum(torch.diagonal(self.G[f], dim1=1, dim2=2) for f in use)[:, None, :]
        ybar = sum(self.sy[f] for f in use) / n
        sxy = sum(self.sxy[f] for f in use)
        mean = sx / n
        scale = (diag / n - mean * mean).clamp_min(0.0).sqrt()
        scale = torch.where(scale > 1e-12, scale, torch.ones_like(scale))
        c = (sxy - ybar * sx.transpose(1, 2)) / scale.transpose(1, 2)
        return n, mean, scale, ybar, c

    def basis(self, use: Sequence[int], with_rows: bool) -> tuple[_Basis, Any, Any]:
        """The :class:`_Basis` of the rows of folds ``use``; with ``with_rows`` its ``X``
        holds those rows (needed by the iterative logistic fit), else it is ``None``. With
        fewer rows than columns it is built from the rows (the probe's Gram route: an
        ``(n, n)`` eigenproblem) and always holds them.

        Returns
        -------
        basis, ybar (label mean), c : (L, d, 1) ``Xs^T (y - ybar)``, or None on the Gram route
        """
        import torch

        n = sum(self.n[f] for f in use)
        d = self.X[0].shape[2]
        if n < d:  # Gram route: an (n, n) eigenproblem is the cheaper one
            ybar = sum(self.sy[f] for f in use) / n
            return _Basis(as_numpy(torch.cat([self.X[f] for f in use], dim=1))), ybar, None
        n, mean, scale, ybar, c = self._moments(use)
        basis = _Basis.__new__(_Basis)
        basis.mean, basis.scale = mean, scale
        G = sum(self.G[f] for f in use)
        Gs = (G - n * mean.transpose(1, 2) @ mean) / (scale.transpose(1, 2) @ scale)
        if with_rows and FAST_EIGH:
            lam, V = torch.linalg.eigh(Gs.to(torch.float32))
            lam, V = lam.to(torch.float64), V.to(torch.float64)
        else:
            lam, V = torch.linalg.eigh(Gs)
        basis.lam, basis.V = lam.clamp_min(0.0), V.contiguous()  # row-major: fast products
        basis.X = torch.cat([self.X[f] for f in use], dim=1) if with_rows else None
        return basis, ybar, c

    def ridge(self, use: Sequence[int], grid: np.ndarray) -> _RidgeGrid | None:
        """Ridge fits of the rows of folds ``use`` for every alpha of ``grid`` (n_grid,), from
        one tridiagonal reduction per layer (:func:`~molstrata.probe.ridge_path.ridge_grid_from_sums`);
        None with fewer rows than columns (then :meth:`basis` takes the Gram route)."""
        if sum(self.n[f] for f in use) < self.X[0].shape[2]:
            return None
        import torch

        n, mean, scale, ybar, c = self._moments(use)
        W = ridge_grid_from_sums([as_numpy(self.G[f]) for f in use], n, as_numpy(mean[:, 0]),
                                 as_numpy(scale[:, 0]), as_numpy(c[..., 0]), grid)
        w = torch.from_numpy(W).to(mean.device)  # (L, d, n_grid) on standardised features
        return _RidgeGrid(mean=mean, w=w / scale.transpose(1, 2), ybar=ybar)


@dataclass(frozen=True)
class _RidgeGrid:
    """Ridge probes of L layers for a grid of alphas, on raw rows: ``X w - mean w + ybar``.

    Attributes (torch float64): mean (L, 1, d); w (L, d, n_grid) (coefficients divided by the
    scales); ybar: the training label mean (the intercept on standardised features)."""

    mean: Any
    w: Any
    ybar: float

    def predict(self, X: Any) -> Any:
        """Predictions (L, m, n_grid) for raw rows X (L, m, d) (torch float64 tensors)."""
        return X @ self.w - self.mean @ self.w + self.ybar


def _linear_pair_grids(layers: Sequence[np.ndarray], y: np.ndarray, folds: np.ndarray, k: int, *,
                       classification: bool, grid: np.ndarray, tol: float, max_iter: int):
    """For every pair (a, b) of :func:`fold_pairs`: the grid predictions of every layer's
    linear probe fit on the other folds, on the rows of a and of b.

    Yields
    ------
    (a, b, pred_a (n_layers, n_a, n_grid), pred_b (n_layers, n_b, n_grid)); probabilities for
    classification
    """
    import torch

    n_layers = len(layers)
    stats = [(idx, _FoldStats([layers[j] for j in idx], y, folds, k))
             for idx in _groups([x.shape[1] for x in layers])]
    g = to_device(torch.from_numpy(np.asarray(grid, dtype=np.float64)))
    for a, b in fold_pairs(k):
        use = [f for f in range(k) if f not in (a, b)]
        pa = np.empty((n_layers, int((folds == a).sum()), g.numel()))
        pb = np.empty((n_layers, int((folds == b).sum()), g.numel()))
        for idx, st in stats:
            fit = None if classification else st.ridge(use, grid)
            if fit is not None:
                for held, out in ((a, pa), (b, pb)):
                    out[idx] = as_numpy(fit.predict(st.X[held]))
                continue
            basis, ybar, c = st.basis(use, with_rows=classification)
            # the rows of ``use``, in fold order, as basis.X holds them
            y_tr = np.concatenate([y[folds == f] for f in use])
            if classification:
                coef, icpt, _ = _logistic_fit(basis, y_tr, grid, tol=tol, max_iter=max_iter)
            elif c is None:
                coef, icpt = _ridge_fit(basis, y_tr, grid)
            else:
                b_eig = basis.V.transpose(1, 2) @ c  # (L, r, 1)
                coef = b_eig / (basis.lam[:, :, None] + g[None, None, :])
                icpt = torch.full((len(idx), g.numel()), ybar, dtype=torch.float64, device=g.device)
            for held, out in ((a, pa), (b, pb)):
                m = basis.apply(st.X[held], coef) + icpt[:, None, :]
                if classification:
                    m = torch.sigmoid(m)
                out[idx] = as_numpy(m)
            del basis
        yield a, b, pa, pb


def cross_validate(
    layers: Sequence[np.ndarray],
    y: np.ndarray,
    folds: np.ndarray,
    *,
    model: str = "linear",
    task_type: str,
    metric: str,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> CVResult:
    """Nested scaffold-grouped CV of one probe per feature set (see the module docstring).

    Parameters
    ----------
    layers : sequence of n_columns arrays (n_molecules, dim_k): the feature sets (layers, or
        concatenations of layers) of the ``train_val`` rows
    y : ndarray (n_molecules,), their labels
    folds : ndarray of int (n_molecules,), from :func:`scaffold_folds`
    model : ``linear``, ``mlp`` or ``gbdt``
    task_type, metric : the task's; ``metric`` both tunes and scores. ``task_type="regression"``
        with 0/1 labels and ``roc-auc`` / ``pr-auc`` fits ridge probes to the labels (see
        :data:`CLASSIFICATION_CV_PROBE`)
    seed : seeds MLP / GBDT probes
    params : extra probe parameters (as for the final probe)

    Returns
    -------
    CVResult
    """
    classification = task_type == "classification"
    X, y, folds, k = _check_cv_inputs(layers, y, folds, classification)
    n_col = len(X)
    params = dict(params or {})
    estimates: list[list[np.ndarray]] = [[] for _ in range(k)]  # per fold: (n_col,) arrays
    oof_sum = np.zeros((y.size, n_col))
    oof_n = np.zeros((y.size, n_col))
    if model == "linear":
        _linear_estimates(X, y, folds, k, params, classification, metric, estimates, oof_sum, oof_n)
    else:
        _refit_estimates(X, y, folds, k, model, task_type, metric, seed, params, estimates,
                         oof_sum, oof_n)
    fold_scores = np.full((k, n_col), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN folds stay NaN
        for f in range(k):
            if estimates[f]:
                fold_scores[f] = np.nanmean(np.stack(estimates[f]), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        oof = np.where(oof_n > 0, oof_sum / np.maximum(oof_n, 1), np.nan)
    return CVResult(folds=folds, fold_scores=fold_scores, oof=oof)


def _check_cv_inputs(
    layers: Sequence[np.ndarray], y: np.ndarray, folds: np.ndarray, classification: bool,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, int]:
    """Check the feature sets, labels (n,) and fold ids (n,) agree: ``(X, y, folds, k)``."""
    X = _as_layers(layers)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    folds = np.asarray(folds, dtype=np.int64).reshape(-1)
    if folds.shape != y.shape or any(x.shape[0] != y.size for x in X):
        raise ConfigError(f"cross_validate: {y.size} labels, {folds.size} fold ids, feature rows "
                          f"{sorted({x.shape[0] for x in X})}: they must match")
    k = int(folds.max()) + 1 if folds.size else 0
    if k < 3 or set(np.unique(folds).tolist()) != set(range(k)):
        raise ConfigError(f"cross_validate: folds must be 0..k-1 with k >= 3, got {np.unique(folds).tolist()}")
    if not np.isfinite(y).all():
        raise ConfigError(f"cross_validate: labels contain NaN/inf at rows {np.flatnonzero(~np.isfinite(y))[:10].tolist()}")
    if classification and not _both_classes(y):
        raise ConfigError("cross_validate: classification labels must be 0/1 with both classes present")
    return X, y, folds, k


def _linear_estimates(
    X: list[np.ndarray], y: np.ndarray, folds: np.ndarray, k: int, params: dict[str, Any],
    classification: bool, metric: str, estimates: list[list[np.ndarray]],
    oof_sum: np.ndarray, oof_n: np.ndarray,
) -> None:
    """Linear probes: one regularisation path per fold pair, tuned on one fold, scored on the
    other. Appends (n_col,) estimates per fold; adds to ``oof_sum``/``oof_n`` (n, n_col)."""
    n_col = len(X)
    unknown = set(params) - {"alphas", "Cs", "tol", "max_iter"}
    if unknown:
        raise ConfigError(f"unknown linear probe parameter(s) {sorted(unknown)}")
    key, default = ("Cs", DEFAULT_CS) if classification else ("alphas", DEFAULT_ALPHAS)
    grid = np.asarray(params.get(key) or default, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0 or (grid <= 0).any():
        raise ConfigError(f"regularisation grid must be positive numbers, got {grid}")
    for a, b in fold_pairs(k):
        if classification and not _both_classes(y[(folds != a) & (folds != b)]):
            raise ConfigError(f"CV folds other than {a} and {b} hold one class only; no probe can "
                              "be fit (use fewer --cv-folds or --selection valid)")
    pairs = _linear_pair_grids(
        X, y, folds, k, classification=classification, grid=grid,
        tol=float(params.get("tol", CV_TOL)), max_iter=int(params.get("max_iter", 1000)))
    for a, b, ga, gb in pairs:
        ra, rb = np.flatnonzero(folds == a), np.flatnonzero(folds == b)
        est_a, est_b = np.full(n_col, np.nan), np.full(n_col, np.nan)
        for j in range(n_col):
            sa, sb = _safe_scores(metric, y[ra], ga[j]), _safe_scores(metric, y[rb], gb[j])
            ib, ia = _best(sb, metric), _best(sa, metric)
            if ib is not None:  # tuned on b, scored on a
                est_a[j] = sa[ib]
                oof_sum[ra, j] += ga[j][:, ib]
                oof_n[ra, j] += 1
            if ia is not None:  # tuned on a, scored on b
                est_b[j] = sb[ia]
                oof_sum[rb, j] += gb[j][:, ia]
                oof_n[rb, j] += 1
        estimates[a].append(est_a)
        estimates[b].append(est_b)


def _refit_estimates(
    X: list[np.ndarray], y: np.ndarray, folds: np.ndarray, k: int, model: str, task_type: str,
    metric: str, seed: int, params: dict[str, Any], estimates: list[list[np.ndarray]],
    oof_sum: np.ndarray, oof_n: np.ndarray,
) -> None:
    """MLP / GBDT probes: one fit per fold pair and held-out fold (early-stopped on the other).
    Appends (n_col,) estimates per fold; adds to ``oof_sum``/``oof_n`` (n, n_col)."""
    n_col = len(X)
    classification = task_type == "classification"
    for a, b in fold_pairs(k):
        tr = np.flatnonzero((folds != a) & (folds != b))
        ra, rb = np.flatnonzero(folds == a), np.flatnonzero(folds == b)
        if classification and not _both_classes(y[tr]):
            continue  # no probe can be fit; these estimates stay missing
        Xtr = [x[tr] for x in X]
        est_a, est_b = np.full(n_col, np.nan), np.full(n_col, np.nan)
        for held, tune, out in ((ra, rb, est_a), (rb, ra, est_b)):
            if classification and not _both_classes(y[tune]):
                continue
            est = make_probe(model, task_type, metric, seed, **params).fit(
                Xtr, y[tr], [x[tune] for x in X], y[tune])
            pred = est.predict([x[held] for x in X])  # (n_col, |held|)
            out[:] = _safe_scores(metric, y[held], pred.T)
            oof_sum[held] += pred.T
            oof_n[held] += 1
        estimates[a].append(est_a)
        estimates[b].append(est_b)
