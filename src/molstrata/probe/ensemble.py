"""``LayerEnsemble``: the default ``--selection ensemble`` strategy as a scikit-learn estimator.

Fitted on one array per layer: a probe on every layer (fit on the training rows, tuned on
the validation rows or an inner split), and layer weights ``softmax(CV score / tau)`` from a
k-fold CV of the same probes on all rows, ``tau`` chosen by the same CV
(:func:`~molstrata.probe.combine.ensemble_weights`), as ``molstrata probe`` does. Pass
``groups`` (e.g. scaffold ids) to ``fit`` for group-disjoint folds; without them the folds
are random (seeded).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils import ClassifierTags, RegressorTags, Tags
from sklearn.utils._available_if import available_if

from molstrata.core.errors import ConfigError
from molstrata.probe._base import ProbeEstimator, ProbeNotFittedError, _as_layers, resolve_metric


class LayerEnsemble(BaseEstimator):
    """Every layer's probe, averaged with weights learned by cross-validation.

    Parameters
    ----------
    probe : a probe estimator (:class:`~molstrata.probe.linear.LinearProbe`,
        :class:`~molstrata.probe.mlp.MLPProbe`, :class:`~molstrata.probe.gbdt.GBDTProbe`) or
        its name (``"linear"``, ``"mlp"``, ``"gbdt"``, with ``task_type``); cloned, never
        changed. Its ``task_type`` and ``metric`` are the ensemble's
    cv : k of the k-fold CV that weighs the layers (>= 3)
    task_type : with ``probe`` given by name: ``"regression"`` or ``"classification"``
    seed : seeds the folds and the inner split

    Attributes
    ----------
    probe_ : the fitted per-layer probe
    weights_ : ndarray (n_layers,), non-negative, summing to 1
    tau_ : float, the temperature chosen on the CV
    cv_scores_ : ndarray (cv, n_layers), each layer's score on each fold
    n_layers_ : int
    classes_ : ndarray (2,), classification only

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(90, 4)), rng.normal(size=(90, 6))]
    >>> y = X[1][:, 0] + 0.1 * rng.normal(size=90)
    >>> LayerEnsemble(cv=3).fit(X, y).predict(X).shape
    (90,)
    """

    def __init__(self, probe: Any = "linear", cv: int = 5, task_type: str = "regression", seed: int = 0):
        self.probe = probe
        self.cv = cv
        self.task_type = task_type
        self.seed = seed

    def _probe(self) -> ProbeEstimator:
        from molstrata.probe.estimators import make_probe

        if isinstance(self.probe, str):
            return make_probe(self.probe, self.task_type, None, self.seed)
        if not isinstance(self.probe, ProbeEstimator):
            raise ConfigError(f"probe must be a molstrata probe or its name, got {type(self.probe).__name__}")
        return clone(self.probe)

    def _task_type(self) -> str:
        return self.probe.task_type if isinstance(self.probe, ProbeEstimator) else self.task_type

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        if self._task_type() == "classification":
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags(multi_class=False)
        else:
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        tags.input_tags.two_d_array = False
        return tags

    def fit(self, X: Sequence[np.ndarray], y: Any, X_valid: Sequence[np.ndarray] | None = None,
            y_valid: Any = None, groups: Any = None) -> LayerEnsemble:
        """Fit the per-layer probe and the layer weights.

        Parameters
        ----------
        X : n_layers arrays (n_samples, dim_k)
        y : (n_samples,); two classes for classification
        X_valid, y_valid : the probe's validation rows (default: an inner split of X)
        groups : (n_samples [+ n_valid],) group of each row (e.g. scaffold) for the CV folds
        """
        from molstrata.probe.combine import ensemble_weights
        from molstrata.probe.cv import cross_validate
        from molstrata.probe.estimators import PROBE_CLASSES
        from molstrata.probe.strategies import coarse_grid, cv_task_type

        layers = _as_layers(X)
        y = self._encode(np.asarray(y).reshape(-1), fit=True)
        yv = None if y_valid is None else self._encode(np.asarray(y_valid).reshape(-1), fit=False)
        probe = self._probe()
        task_type = probe.task_type
        metric = resolve_metric(task_type, probe.metric)
        self.probe_ = probe.fit(layers, y, X_valid, yv)
        all_x = layers if X_valid is None else [np.concatenate([a, b]) for a, b in zip(layers, _as_layers(X_valid), strict=True)]
        all_y = y if yv is None else np.concatenate([y, yv])
        folds = self._folds(all_y, groups, task_type)
        model = next(name for name, cls in PROBE_CLASSES.items() if isinstance(probe, cls))
        params = {k: v for k, v in probe.get_params().items() if k not in ("task_type", "metric", "seed")}
        cv_type = cv_task_type(model, task_type)
        res = cross_validate(all_x, all_y, folds, model=model, task_type=cv_type, metric=metric,
                             seed=int(getattr(probe, "seed", self.seed)), params=coarse_grid(params, model, cv_type))
        self.weights_, self.tau_ = ensemble_weights(res.fold_scores, res.oof, all_y, folds, metric)
        self.cv_scores_ = res.fold_scores
        self.n_layers_ = len(layers)
        self.metric_ = metric
        return self

    def _encode(self, y: np.ndarray, *, fit: bool) -> np.ndarray:
        if self._task_type() != "classification":
            return y.astype(np.float64)
        if fit:
            classes = np.unique(y)
            if classes.size != 2:
                raise ConfigError(f"Only binary classification is supported: y has {classes.size} class(es)")
            self.classes_ = classes
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ConfigError(f"y_valid has labels {unknown[:5].tolist()} not in y")
        return (y == self.classes_[1]).astype(np.float64)

    def _folds(self, y: np.ndarray, groups: Any, task_type: str) -> np.ndarray:
        from sklearn.model_selection import KFold, StratifiedKFold

        from molstrata.probe.cv import scaffold_folds

        if isinstance(self.cv, bool) or not isinstance(self.cv, int) or self.cv < 3:
            raise ConfigError(f"cv must be an integer >= 3, got {self.cv!r}")
        if groups is not None:
            ids = np.unique(np.asarray(groups).reshape(-1), return_inverse=True)[1]
            if ids.size != y.size:
                raise ConfigError(f"groups has {ids.size} rows, the data {y.size}")
            return scaffold_folds(ids, self.cv, self.seed)
        split = (StratifiedKFold if task_type == "classification" else KFold)(
            n_splits=self.cv, shuffle=True, random_state=self.seed)
        folds = np.empty(y.size, dtype=np.int64)
        for i, (_, test) in enumerate(split.split(np.zeros(y.size), y)):
            folds[test] = i
        return folds

    def _proba(self, X: Sequence[np.ndarray]) -> np.ndarray:
        if not hasattr(self, "weights_"):
            raise ProbeNotFittedError("LayerEnsemble is not fitted; call fit first")
        pred = self.probe_.predict(_as_layers(X))  # (n_layers, n)
        used = np.flatnonzero(self.weights_ > 0)
        return np.asarray(sum(self.weights_[k] * pred[k] for k in used), dtype=np.float64)

    def predict(self, X: Sequence[np.ndarray]) -> np.ndarray:
        """The weighted prediction (n_samples,): values, or labels from ``classes_``."""
        p = self._proba(X)
        if self._task_type() == "classification":
            return self.classes_[(p >= 0.5).astype(int)]
        return p

    @available_if(lambda self: self._task_type() == "classification")
    def predict_proba(self, X: Sequence[np.ndarray]) -> np.ndarray:
        """Class probabilities (n_samples, 2), columns in ``classes_`` order."""
        p = self._proba(X)
        return np.column_stack([1.0 - p, p])

    def score(self, X: Sequence[np.ndarray], y: Any) -> float:
        """R² (regression) or accuracy (classification)."""
        from sklearn.metrics import accuracy_score, r2_score

        return float((accuracy_score if self._task_type() == "classification" else r2_score)(y, self.predict(X)))
