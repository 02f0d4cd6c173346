"""Probes that combine layers instead of choosing one: ``concat``, ``ensemble``, ``mix``.

* ``concat`` (:func:`top_layers`): the m layers with the best mean CV score, concatenated
  column-wise into one feature set, m chosen by the same CV from :data:`CONCAT_SIZES`;
* ``ensemble`` (:func:`ensemble_weights`): every layer's own probe, predictions averaged with
  weights ``softmax(relative CV score / tau)``, ``tau`` chosen on the out-of-fold
  predictions of the same CV;
* ``mix`` (:class:`MixProbe`): an ELMo-style scalar mix ``sum_k a_k z_k`` of the
  standardised layers (``a_k >= 0``, ``sum a_k = 1`` after the scale is folded into the
  head) trained together with one linear head, by alternating closed-form steps.

As for every final probe, the fitted models behind the test predictions are trained on the
seed's train split with their regularisation chosen on its validation split; only the
choices (which layers, m, tau) come from the cross-validation inside ``train_val``. ``mix``
makes no discrete choice and runs no CV: its weights are learned on train together with the
head (ELMo trains them with the task loss), and the head's penalty is chosen on valid.
Cross-validating the mix (k more alternating fits) would be possible but costs as much as
the whole per-layer CV, for a choice (the penalty) that the validation split already makes
for every other final probe.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from molstrata.core.choice import best_index
from molstrata.core.errors import ConfigError, NotFittedError, check_choice
from molstrata.probe._base import _as_layers, _check_rows
from molstrata.probe.cv import CV_TOL
from molstrata.probe.linear import DEFAULT_ALPHAS, DEFAULT_CS, LinearProbe
from molstrata.probe.scoring import greater_is_better, score_columns
from molstrata.probe.selection import cv_means

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: sizes m tried by ``concat``
CONCAT_SIZES = (2, 3)
#: temperatures (in % of the best layer's mean CV score) tried by ``ensemble``; 0 puts all
#: the weight on the CV-best layer, inf weighs every layer equally
ENSEMBLE_TEMPERATURES = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, float("inf"))


def _signed_means(fold_scores: np.ndarray, metric: str) -> np.ndarray:
    m = cv_means(fold_scores, metric)
    return m if greater_is_better(metric) else -m


def top_layers(fold_scores: np.ndarray, metric: str, m: int) -> list[int]:
    """The ``m`` layers with the best mean CV score, in layer order.

    Parameters
    ----------
    fold_scores : ndarray (n_folds, n_layers)
    metric : the task metric
    m : how many (capped at the number of layers with a finite mean)

    Returns
    -------
    list of int, ascending; ties go to the shallower layer
    """
    s = _signed_means(fold_scores, metric)
    finite = np.flatnonzero(np.isfinite(s))
    if finite.size == 0:
        raise ConfigError("every mean CV score is NaN; no layer can be chosen")
    picked: list[int] = []
    left = s.copy()
    for _ in range(min(int(m), finite.size)):  # the best, then the best of the rest...
        k = int(best_index(left, higher_is_better=True))  # ties: the shallower layer
        picked.append(k)
        left[k] = np.nan
    return sorted(picked)


def _fold_mean_score(metric: str, y: np.ndarray, pred: np.ndarray, folds: np.ndarray) -> float:
    """Mean over folds of the score of ``pred`` (n,) on each fold's rows (NaN folds skipped)."""
    vals = []
    for f in np.unique(folds):
        rows = folds == f
        try:
            vals.append(float(score_columns(metric, y[rows], pred[rows])))
        except ValueError:
            continue
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def temperature_weights(fold_scores: np.ndarray, metric: str, tau: float) -> np.ndarray:
    """Ensemble weights ``softmax(g / tau)`` for one temperature.

    ``g_k = 100 * (mean_k - mean_best) / |mean_best|`` is each layer's mean CV score relative
    to the best layer's, in % (sign-corrected, so ``g <= 0``). ``tau = 0`` is the one-hot
    vector of the CV-best layer (shallowest on ties); ``tau = inf`` weighs equally every layer
    with a finite mean.

    Returns
    -------
    ndarray (n_layers,), non-negative, summing to 1
    """
    s = _signed_means(fold_scores, metric)
    finite = np.isfinite(s)
    if not finite.any():
        raise ConfigError("every mean CV score is NaN; no ensemble weights")
    best = int(best_index(s, higher_is_better=True))
    w = np.zeros(s.size)
    if tau == 0:
        w[best] = 1.0
        return w
    if np.isinf(tau):
        w[finite] = 1.0
        return w / w.sum()
    g = 100.0 * (s - s[best]) / max(abs(s[best]), 1e-12)
    w[finite] = np.exp(g[finite] / tau)
    return w / w.sum()


def ensemble_weights(
    fold_scores: np.ndarray, oof: np.ndarray, y: np.ndarray, folds: np.ndarray, metric: str,
    temperatures: Sequence[float] = ENSEMBLE_TEMPERATURES,
) -> tuple[np.ndarray, float]:
    """``ensemble``: layer weights from the CV scores, the temperature chosen on the CV.

    For each temperature, the out-of-fold predictions of the layers are averaged with
    :func:`temperature_weights` and scored fold by fold; the temperature with the best mean
    fold score wins (ties: the first in ``temperatures``, the most concentrated). Layers
    without an out-of-fold prediction for every row get no weight.

    Parameters
    ----------
    fold_scores : ndarray (n_folds, n_layers), from :func:`molstrata.probe.cv.cross_validate`
    oof : ndarray (n_molecules, n_layers), its out-of-fold predictions
    y : ndarray (n_molecules,), the ``train_val`` labels
    folds : ndarray of int (n_molecules,)
    metric : the task metric
    temperatures : candidate temperatures, in % of the best mean CV score

    Returns
    -------
    weights : ndarray (n_layers,), non-negative, summing to 1
    tau : float, the chosen temperature
    """
    fs = np.array(fold_scores, dtype=np.float64)
    oof = np.asarray(oof, dtype=np.float64)
    fs[:, ~np.isfinite(oof).all(axis=0)] = np.nan  # incomplete columns: no weight
    weights, scores = [], []
    for tau in temperatures:
        w = temperature_weights(fs, metric, float(tau))
        used = w > 0
        weights.append(w)
        scores.append(_fold_mean_score(metric, y, oof[:, used] @ w[used], folds))
    best = best_index(scores, greater_is_better(metric))  # ties: the first temperature
    if best is None:
        raise ConfigError("no ensemble temperature has a finite CV score")
    return weights[best], float(temperatures[best])


# ----------------------------------------------------------------------------- mix
def mix_layers(dims: Sequence[int]) -> list[int]:
    """The layers a scalar mix can combine: those sharing the most common width (ties: the
    width of the deepest layer among the tied widths). A mix adds layers elementwise, so it
    needs one coordinate system; other widths are left out.

    Parameters
    ----------
    dims : the width of each layer

    Returns
    -------
    list of int, ascending
    """
    dims = [int(d) for d in dims]
    if not dims:
        raise ConfigError("no layers to mix")
    counts = {d: dims.count(d) for d in dims}
    top = max(counts.values())
    width = next(d for d in reversed(dims) if counts[d] == top)
    return [k for k, d in enumerate(dims) if d == width]


class MixProbe:
    """ELMo-style scalar mix of layers with a linear head (ridge or logistic).

    The model is ``f(x) = head(sum_k a_k z_k)``, with ``z_k`` layer k standardised on the
    training rows, ``a_k >= 0`` and ``head`` a :class:`~molstrata.probe.linear.LinearProbe`
    on the mixed features (its penalty chosen on the validation rows from its grid). Trained
    by alternating closed-form steps, starting from equal weights:

    1. head step: fit the head on ``sum_k a_k z_k`` (train), penalty chosen on valid;
    2. mix step: with the head's weights ``w`` (in mixed-feature units) fixed, each layer's
       contribution ``p_k = z_k w`` is a column, and ``a`` solves the non-negative
       least-squares (regression) or the non-negative logistic (classification) fit of the
       training labels on those columns plus an intercept; ``a`` is then divided by its sum
       (the scale ``gamma = sum a`` is absorbed by the next head step, which standardises).

    It stops when no weight moves by more than ``tol`` or after ``max_iter`` rounds, and ends
    with a head step, so the head fits the final weights. The heads of the rounds tune over
    every other grid point and (logistic) stop at :data:`~molstrata.probe.cv.CV_TOL`; the
    final head uses the full grid and the probe's tolerance.

    Parameters
    ----------
    task_type : ``"regression"`` or ``"classification"``
    metric : validation metric of the head's penalty
    max_iter : alternation rounds at most
    tol : stop when ``max |a_new - a| < tol``
    head_params : extra :class:`LinearProbe` parameters (``alphas``, ``Cs``, ``tol``...)

    Attributes
    ----------
    weights_ : ndarray (n_layers,), the mixing weights (non-negative, sum 1)
    gamma_ : float, the scale of the last mix step
    param_ : float, the head's penalty (alpha or C) chosen on valid
    n_iter_ : int, rounds run
    head_ : the fitted head (one layer of width hidden_dim)
    """

    def __init__(self, task_type: str = "regression", metric: str | None = None, max_iter: int = 6,
                 tol: float = 5e-3, **head_params: Any):
        self.task_type = task_type
        self.metric = metric
        self.max_iter = max_iter
        self.tol = tol
        self.head_params = head_params

    def _standardise(self, X: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [(np.asarray(x, dtype=np.float64) - m) / s for x, m, s in zip(X, self._mean, self._scale, strict=True)]

    def _mixed(self, Z: Sequence[np.ndarray], a: np.ndarray) -> np.ndarray:
        out = np.zeros_like(Z[0])
        for ak, z in zip(a, Z, strict=True):
            if ak:
                out += ak * z
        return out

    def _head(self, Ztr: Sequence[np.ndarray], ytr: np.ndarray, Zva: Sequence[np.ndarray],
              yva: np.ndarray, a: np.ndarray, final: bool) -> tuple[LinearProbe, np.ndarray]:
        Mtr = self._mixed(Ztr, a)
        params = dict(self.head_params)
        if not final:  # the rounds only steer the weights: looser tolerance, coarser grid
            params["tol"] = max(float(params.get("tol", 1e-6)), CV_TOL)
            key, default = ("Cs", DEFAULT_CS) if self.task_type == "classification" else ("alphas", DEFAULT_ALPHAS)
            params[key] = list(params.get(key) or default)[::2]
        head = LinearProbe(task_type=self.task_type, metric=self.metric, **params)
        head.fit([Mtr], ytr, [self._mixed(Zva, a)], yva)
        # the head's weights in mixed-feature units (it standardises its input as StandardScaler)
        mean = Mtr.mean(axis=0)
        scale = np.sqrt(np.clip((Mtr * Mtr).mean(axis=0) - mean * mean, 0.0, None))
        scale = np.where(scale > 1e-12, scale, 1.0)
        return head, head.coef_[0] / scale

    def _mix_step(self, P: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Non-negative weights of the contribution columns P (n, L), with a free intercept."""
        from scipy.optimize import minimize, nnls
        from scipy.special import expit

        if self.task_type == "regression":
            a, _ = nnls(P - P.mean(axis=0), y - y.mean())
            return a
        L = P.shape[1]

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            m = P @ theta[:L] + theta[L]
            f = np.logaddexp(0.0, m).sum() - y @ m
            r = expit(m) - y
            return f, np.concatenate([P.T @ r, [r.sum()]])

        x0 = np.concatenate([np.full(L, 1.0 / L), [0.0]])
        res = minimize(loss, x0, jac=True, method="L-BFGS-B",
                       bounds=[(0.0, None)] * L + [(None, None)], options={"maxiter": 200})
        return res.x[:L]

    def fit(self, X_train: Sequence[np.ndarray] | np.ndarray, y_train: ArrayLike,
            X_valid: Sequence[np.ndarray] | np.ndarray, y_valid: ArrayLike) -> MixProbe:
        """Fit the mix and the head on train; choose the head's penalty on valid.

        Parameters
        ----------
        X_train : sequence of n_layers arrays (n_train, hidden_dim), one width
        y_train : ndarray (n_train,)
        X_valid : sequence of n_layers arrays (n_valid, hidden_dim)
        y_valid : ndarray (n_valid,)
        """
        check_choice("task_type", self.task_type, ("regression", "classification"))
        Xtr, Xva = _as_layers(X_train), _as_layers(X_valid)
        if len(Xtr) != len(Xva) or not Xtr:
            raise ConfigError(f"{len(Xtr)} train layers but {len(Xva)} valid layers")
        if len({x.shape[1] for x in Xtr}) != 1:
            raise ConfigError(f"a scalar mix needs layers of one width, got widths {[x.shape[1] for x in Xtr]}"
                              " (see mix_layers)")
        ytr = np.asarray(y_train, dtype=np.float64).reshape(-1)
        yva = np.asarray(y_valid, dtype=np.float64).reshape(-1)
        _check_rows(Xtr, ytr.size, "train")
        _check_rows(Xva, yva.size, "valid")
        self._mean = [np.asarray(x, dtype=np.float64).mean(axis=0) for x in Xtr]
        sd = [np.asarray(x, dtype=np.float64).std(axis=0) for x in Xtr]
        self._scale = [np.where(s > 1e-12, s, 1.0) for s in sd]
        Ztr, Zva = self._standardise(Xtr), self._standardise(Xva)
        L = len(Ztr)
        a = np.full(L, 1.0 / L)
        gamma = 1.0
        self.n_iter_ = 0
        for it in range(1, int(self.max_iter) + 1):
            self.n_iter_ = it
            _, w = self._head(Ztr, ytr, Zva, yva, a, final=False)
            P = np.stack([z @ w for z in Ztr], axis=1)  # (n_train, L) per-layer contributions
            new = self._mix_step(P, ytr)
            total = float(new.sum())
            if not np.isfinite(total) or total <= 0:
                break  # the head predicts nothing: keep the previous weights
            gamma, new = total, new / total
            moved = float(np.abs(new - a).max())
            a = new
            if moved < self.tol:
                break
        self.head_, _ = self._head(Ztr, ytr, Zva, yva, a, final=True)
        self.weights_ = a
        self.gamma_ = gamma
        self.param_ = float(self.head_.best_param_[0])
        self.n_layers_ = L
        return self

    def predict(self, X: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Predictions (n_molecules,); probabilities of class 1 for classification.

        Parameters
        ----------
        X : sequence of n_layers arrays (n_molecules, hidden_dim)
        """
        if not hasattr(self, "weights_"):
            raise NotFittedError("MixProbe is not fitted; call fit first")
        layers = _as_layers(X)
        if len(layers) != self.n_layers_:
            raise ConfigError(f"got {len(layers)} layers, the mix was fit on {self.n_layers_}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return self.head_.predict([self._mixed(self._standardise(layers), self.weights_)])[0]
