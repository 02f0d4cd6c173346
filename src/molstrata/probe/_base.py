"""The probes' common base: a scikit-learn estimator taking one matrix or one array per layer.

:class:`ProbeEstimator` gives every probe (linear, MLP, GBDT) ``get_params`` /
``set_params``, ``clone``, ``repr`` and tags (``is_regressor`` / ``is_classifier`` follow
``task_type``) from :class:`sklearn.base.BaseEstimator`; :class:`PerLayerProbe` adds the
fitting loop of the probes that fit one model per layer (MLP, GBDT).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils import ClassifierTags, RegressorTags, Tags
from sklearn.utils._available_if import available_if

from molstrata.core.errors import ConfigError, NotFittedError, check_choice
from molstrata.probe.scoring import score

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: share of the rows held out for tuning when ``fit`` gets no validation set
INNER_VALID_FRACTION = 0.2


def is_layer_list(X: Any) -> bool:
    """Whether ``X`` is one array per layer (a list / tuple of 2-D ndarrays, a 3-D ndarray or
    a ``LayerEmbeddings``) rather than one feature matrix (scikit-learn's ``X``)."""
    if isinstance(X, np.ndarray):
        return X.ndim == 3
    if hasattr(X, "layers") and hasattr(X, "valid"):
        return True
    return (isinstance(X, list | tuple) and len(X) > 0
            and all(isinstance(x, np.ndarray) and x.ndim == 2 for x in X))


def inner_split(n: int, y: np.ndarray, classification: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation rows of a seeded split (:data:`INNER_VALID_FRACTION` held out,
    stratified for classification): two ndarrays of int."""
    from sklearn.model_selection import train_test_split

    if n < 5:
        raise ConfigError(f"fit needs at least 5 samples to hold out a validation split, got "
                          f"n_samples = {n}; or pass X_valid, y_valid")
    strat = None
    if classification:
        _, counts = np.unique(y, return_counts=True)
        strat = y if counts.min() >= 2 else None
    rows = np.arange(n)
    train, valid = train_test_split(rows, test_size=INNER_VALID_FRACTION, random_state=seed, stratify=strat)
    return np.sort(train), np.sort(valid)


class ProbeNotFittedError(NotFittedError, SklearnNotFittedError):
    """A probe used before ``fit``: molstrata's and scikit-learn's NotFittedError at once."""


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
    """Base of the probes: scikit-learn's estimator contract, on one matrix or one array per layer.

    ``fit(X, y, X_valid=None, y_valid=None)`` fits on ``X`` and tunes on the validation set,
    or on a seeded inner split (:data:`INNER_VALID_FRACTION`) without one. ``X`` is either one
    matrix (n_samples, n_features), and then ``predict`` returns (n_samples,) values or labels
    and classifiers have ``predict_proba`` (n_samples, 2), as any scikit-learn estimator; or a
    sequence of n_layers arrays (n_molecules, hidden_dim_k), one probe per layer, and then
    ``predict`` returns (n_layers, n_molecules) values or probabilities of class 1. Parameters
    are the ``__init__`` keywords, stored unchanged, among them ``task_type``
    (``"regression"`` or ``"classification"``), which sets the tags.
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

    # ------------------------------------------------- scikit-learn's fit / predict
    def fit(self, X: Any, y: ArrayLike | None, X_valid: Any = None,
            y_valid: ArrayLike | None = None) -> Self:
        """Fit on ``X``; tune (regularisation, early stopping) on ``X_valid`` or, without it,
        on a seeded inner split of ``X`` (:data:`INNER_VALID_FRACTION`).

        Parameters
        ----------
        X : one feature matrix (n_samples, n_features) (scikit-learn's contract: ``predict``
            then returns (n_samples,)), or one array per layer, n_layers arrays
            (n_samples, hidden_dim_k) (``predict`` returns (n_layers, n_samples))
        y : ndarray (n_samples,); for classification two classes (one matrix: any two labels;
            layers: 0/1)
        X_valid, y_valid : the validation set, in the same form (optional, together)

        Returns
        -------
        self
        """
        if y is None:
            raise ConfigError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        if (X_valid is None) != (y_valid is None):
            raise ConfigError("pass X_valid and y_valid together, or neither")
        if is_layer_list(X):
            self._matrix = False
            layers = _as_layers(X)
            if X_valid is None:
                y = np.asarray(y)
                tr, va = inner_split(len(y), y, self.task_type == "classification", self._split_seed())
                return self._fit_layers([x[tr] for x in layers], y[tr], [x[va] for x in layers], y[va])
            return self._fit_layers(layers, y, _as_layers(X_valid), y_valid)
        return self._fit_matrix(X, y, X_valid, y_valid)

    def _split_seed(self) -> int:
        return int(getattr(self, "seed", 0) or 0)

    def _fit_matrix(self, X: ArrayLike, y: ArrayLike, X_valid: ArrayLike | None,
                    y_valid: ArrayLike | None) -> Self:
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import check_array, column_or_1d, validate_data

        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=self.task_type == "regression")
        y = column_or_1d(y)
        if X_valid is not None:
            X_valid = check_array(X_valid, dtype=[np.float64, np.float32])
            y_valid = column_or_1d(np.asarray(y_valid))
            if X_valid.shape[1] != X.shape[1]:
                raise ConfigError(f"X_valid has {X_valid.shape[1]} features, X has {X.shape[1]}")
        if self.task_type == "classification":
            check_classification_targets(y)
            classes = np.unique(y)
            if classes.size != 2:
                raise ConfigError(f"Only binary classification is supported: {type(self).__name__} got "
                                  f"{classes.size} class(es) in y: {classes[:5].tolist()}")
            self.classes_ = classes
            y = (y == classes[1]).astype(np.float64)
            if y_valid is not None:
                unknown = np.setdiff1d(np.unique(y_valid), classes)
                if unknown.size:
                    raise ConfigError(f"y_valid has labels {unknown[:5].tolist()} not in y")
                y_valid = (y_valid == classes[1]).astype(np.float64)
        if X_valid is None:
            tr, va = inner_split(len(y), y, self.task_type == "classification", self._split_seed())
            X, X_valid, y, y_valid = X[tr], X[va], y[tr], y[va]
        self._fit_layers([X], y, [X_valid], y_valid)
        self._matrix = True
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions.

        After ``fit`` on one matrix: ndarray (n_samples,), values (regression) or labels from
        ``classes_`` (classification). After ``fit`` on layers: ndarray (n_layers,
        n_samples), values or probabilities of class 1, per layer.
        """
        if not getattr(self, "_matrix", False):
            return self._predict_layers(X)
        p = self._predict_matrix(X)
        if self.task_type == "classification":
            return self.classes_[(p >= 0.5).astype(int)]
        return p

    @available_if(lambda self: self.task_type == "classification")
    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities, ndarray (n_samples, 2), columns in ``classes_`` order
        (classifiers fitted on one matrix; per-layer probabilities come from ``predict``)."""
        if not getattr(self, "_matrix", False):
            if hasattr(self, "n_layers_"):
                raise ConfigError("fitted on layers: predict returns each layer's probabilities")
            raise ProbeNotFittedError(f"{type(self).__name__} is not fitted; call fit first")
        p = self._predict_matrix(X)
        return np.column_stack([1.0 - p, p])

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """R² (regression) or accuracy (classification) of ``predict(X)`` (one matrix)."""
        from sklearn.metrics import accuracy_score, r2_score

        metric = accuracy_score if self.task_type == "classification" else r2_score
        return float(metric(y, self.predict(X), sample_weight=sample_weight))

    def _predict_matrix(self, X: ArrayLike) -> np.ndarray:
        from sklearn.utils.validation import validate_data

        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._predict_layers([X])[0]

    def set_params(self, **params: Any) -> Self:
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

    def _fit_layers(self, X_train: Sequence[np.ndarray] | np.ndarray, y_train: ArrayLike,
                    X_valid: Sequence[np.ndarray] | np.ndarray, y_valid: ArrayLike) -> Self:
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

    def _predict_layers(self, X: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Predictions per layer: ndarray (n_layers, n_molecules); probabilities of class 1
        for classification."""
        if not hasattr(self, "models_"):
            raise ProbeNotFittedError(f"{type(self).__name__} is not fitted; call fit first")
        layers = _as_layers(X)
        if len(layers) != self.n_layers_:
            raise ConfigError(f"got {len(layers)} layers, the probe was fit on {self.n_layers_}")
        _check_rows(layers, layers[0].shape[0], "predict")
        return np.stack([self._predict_one(m, x) for m, x in zip(self.models_, layers, strict=True)])
