"""The probes' common base: a scikit-learn estimator taking one array per layer.

:class:`ProbeEstimator` gives every probe (linear, MLP, GBDT) ``get_params`` /
``set_params``, ``clone``, ``repr`` and tags (``is_regressor`` / ``is_classifier`` follow
``task_type``) from :class:`sklearn.base.BaseEstimator`; :class:`PerLayerProbe` adds the
fitting loop of the probes that fit one model per layer (MLP, GBDT).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import ClassifierTags, RegressorTags, Tags

from molstrata.core.errors import ConfigError, NotFittedError, check_choice
from molstrata.probe.scoring import score


def _as_layers(X: Any) -> list[np.ndarray]:
    """A sequence of (n, d_k) arrays (or one (n_layers, n, d) array) → list of 2-D arrays."""
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return [X]
    layers = [np.asarray(x) for x in X]
    for k, x in enumerate(layers):
        if x.ndim != 2:
            raise ConfigError(f"layer {k} has shape {x.shape}; expected (n_molecules, dim)")
    return layers


def _check_rows(layers: list[np.ndarray], n: int, what: str) -> None:
    for k, x in enumerate(layers):
        if x.shape[0] != n:
            raise ConfigError(f"{what}: layer {k} has {x.shape[0]} rows, labels have {n}")
        if not np.isfinite(x).all():
            bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
            raise ConfigError(
                f"{what}: layer {k} has non-finite values in rows {bad[:10].tolist()}"
                " (invalid molecules must be removed before probing)"
            )


class ProbeEstimator(BaseEstimator):
    """Base of the probes: scikit-learn's estimator contract, one array per layer.

    ``fit(X_train, y_train, X_valid, y_valid)`` takes sequences of n_layers arrays
    (n_molecules, hidden_dim_k), fits on train and tunes on valid; ``predict(X)`` returns
    (n_layers, n_molecules). Parameters are the ``__init__`` keywords, stored unchanged, among
    them ``task_type`` (``"regression"`` or ``"classification"``), which sets the tags.
    """

    task_type: str

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        if self.task_type == "regression":
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        elif self.task_type == "classification":
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags(multi_class=False)  # 0/1 labels
        tags.target_tags.required = True
        return tags

    def set_params(self, **params: Any):
        """Set parameters (scikit-learn's ``set_params``); an unknown name is a ConfigError."""
        valid = self.get_params(deep=False)
        for k in params:
            if k not in valid:
                raise ConfigError(f"unknown parameter {k!r} of {type(self).__name__}; valid: {', '.join(valid)}")
        return super().set_params(**params)


def check_labels(task_type: str, y: np.ndarray, name: str) -> np.ndarray:
    """Labels as float64 (n,), finite, and 0/1 with both classes for classification."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if not np.isfinite(y).all():
        raise ConfigError(f"{name} labels contain NaN/inf at rows {np.flatnonzero(~np.isfinite(y))[:10].tolist()}")
    if task_type == "classification" and (not np.isin(y, (0.0, 1.0)).all() or len(np.unique(y)) < 2):
        raise ConfigError(f"{name} labels must be 0/1 with both classes present")
    return y


def resolve_metric(task_type: str, metric: str | None) -> str:
    """The validation metric: the given one (checked against the task type) or the default."""
    check_choice("task_type", task_type, ("regression", "classification"))
    ok = ("mae", "rmse", "spearman") if task_type == "regression" else ("roc-auc", "pr-auc")
    metric = metric or ok[0]
    check_choice(f"metric for {task_type}", metric, ok)
    return metric


class PerLayerProbe(ProbeEstimator):
    """Base of probes fitting one independent model per layer.

    Subclasses implement ``_fit_one(k, X, y, Xv, yv, metric) -> (model, valid_pred, param)``
    and ``_predict_one(model, X) -> (n,)``; parameters are the ``__init__`` keywords.
    """

    def fit(self, X_train, y_train, X_valid, y_valid):
        """Fit one model per layer on train; early-stop / tune on valid.

        Parameters
        ----------
        X_train : sequence of n_layers arrays (n_train, hidden_dim_k)
        y_train : ndarray (n_train,)
        X_valid : sequence of n_layers arrays (n_valid, hidden_dim_k)
        y_valid : ndarray (n_valid,)
        """
        metric = resolve_metric(self.task_type, self.metric)
        Xtr, Xva = _as_layers(X_train), _as_layers(X_valid)
        ytr = check_labels(self.task_type, y_train, "train")
        yva = check_labels(self.task_type, y_valid, "valid")
        if len(Xtr) != len(Xva):
            raise ConfigError(f"{len(Xtr)} train layers but {len(Xva)} valid layers")
        _check_rows(Xtr, len(ytr), "train")
        _check_rows(Xva, len(yva), "valid")
        self.models_: list[Any] = []
        params, scores = [], []
        for k, (x, xv) in enumerate(zip(Xtr, Xva, strict=True)):
            model, pred, param = self._fit_one(k, x, ytr, xv, yva, metric)
            self.models_.append(model)
            params.append(param)
            scores.append(score(metric, yva, pred))
        self.metric_ = metric
        self.n_layers_ = len(Xtr)
        self.best_param_ = np.asarray(params)
        self.valid_scores_ = np.asarray(scores, dtype=np.float64)
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions per layer: ndarray (n_layers, n_molecules); probabilities of class 1
        for classification."""
        if not hasattr(self, "models_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit first")
        layers = _as_layers(X)
        if len(layers) != self.n_layers_:
            raise ConfigError(f"got {len(layers)} layers, the probe was fit on {self.n_layers_}")
        _check_rows(layers, layers[0].shape[0], "predict")
        return np.stack([self._predict_one(m, x) for m, x in zip(self.models_, layers, strict=True)])
