"""Stacking of the layers (issue 21): a ridge / logistic head on out-of-fold per-layer predictions.

The per-layer predictions are ridge probes (on the 0/1 labels for classification), as the
scaffold-grouped CV of :func:`molstrata.probe.cv.cross_validate` fits them inside
``train_val``; their out-of-fold predictions are the stacker's training features. Test
features are the same ridge probes fit on train and tuned on valid. Nothing here sees a test
label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from molstrata.core.errors import ConfigError, check_choice
from molstrata.probe.scoring import score

#: ridge penalties of the regression stacker (chosen by efficient leave-one-out)
STACK_ALPHAS = tuple(float(a) for a in np.logspace(-2, 4, 7))
#: inverse penalty of the logistic stacker (on standardised per-layer scores)
STACK_C = 0.1


class LayerStacker(BaseEstimator):
    """A ridge (regression) or logistic (classification) head on per-layer predictions.

    Parameters
    ----------
    task_type : ``"regression"`` or ``"classification"``
    alphas : ridge penalties (regression; :data:`STACK_ALPHAS`)
    C : inverse L2 penalty (classification; :data:`STACK_C`)

    ``fit(P, y)`` takes P: ndarray (n_samples, n_layers) of per-layer predictions (NaN
    entries are replaced by the column's training mean); ``predict(P)`` returns (n_samples,)
    values or probabilities of class 1.
    """

    def __init__(self, task_type: str = "regression", alphas: tuple[float, ...] = STACK_ALPHAS,
                 C: float = STACK_C):
        self.task_type = task_type
        self.alphas = alphas
        self.C = C

    def fit(self, P: np.ndarray, y: np.ndarray) -> LayerStacker:
        check_choice("task_type", self.task_type, ("regression", "classification"))
        P = np.asarray(P, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if P.ndim != 2 or P.shape[0] != y.size:
            raise ConfigError(f"stacking features have shape {P.shape}; expected ({y.size}, n_layers)")
        self.fill_ = np.nan_to_num(np.nanmean(P, axis=0))
        P = np.where(np.isnan(P), self.fill_, P)
        if self.task_type == "regression":
            head = RidgeCV(alphas=list(self.alphas))
        else:
            head = LogisticRegression(C=self.C, max_iter=1000)
        self.model_: Pipeline = make_pipeline(StandardScaler(), head).fit(P, y)
        return self

    def predict(self, P: np.ndarray) -> np.ndarray:
        P = np.asarray(P, dtype=np.float64)
        P = np.where(np.isnan(P), self.fill_, P)
        if self.task_type == "regression":
            return self.model_.predict(P).astype(np.float64)
        return self.model_.predict_proba(P)[:, 1].astype(np.float64)

    @property
    def coef_(self) -> np.ndarray:
        """The head's weights on the standardised per-layer predictions, (n_layers,)."""
        return np.ravel(self.model_[-1].coef_)


@dataclass(frozen=True)
class StackResult:
    """Stacking for one (task, seed).

    Attributes
    ----------
    valid_score : float, the stacker fit on the train rows' out-of-fold predictions, scored
        on the valid rows' out-of-fold predictions (the estimate used to choose among heads)
    test_pred : ndarray (n_test_ok,), the stacker fit on every train_val row, applied to the
        test rows' per-layer predictions
    coef : ndarray (n_layers,), the weights of the stacker behind ``test_pred``
    """

    valid_score: float
    test_pred: np.ndarray
    coef: np.ndarray


def stack_layers(oof: np.ndarray, y_tv: np.ndarray, n_train: int, test_layer_pred: np.ndarray, *,
                 task_type: str, metric: str) -> StackResult:
    """Fit the stacker and estimate it on valid, without test labels.

    Parameters
    ----------
    oof : ndarray (n_train + n_valid, n_layers), out-of-fold per-layer predictions of the
        train rows then the valid rows
    y_tv : ndarray (n_train + n_valid,), their labels
    n_train : rows of ``oof`` that are train rows (the rest are valid rows)
    test_layer_pred : ndarray (n_test_ok, n_layers), per-layer predictions of the test rows
    task_type, metric : the task's

    Returns
    -------
    StackResult
    """
    if oof.shape[0] != y_tv.size or not 0 < n_train < y_tv.size:
        raise ConfigError(f"oof has {oof.shape[0]} rows for {y_tv.size} labels and n_train={n_train}")
    on_train = LayerStacker(task_type).fit(oof[:n_train], y_tv[:n_train])
    valid = float(score(metric, y_tv[n_train:], on_train.predict(oof[n_train:])))
    full = LayerStacker(task_type).fit(oof, y_tv)
    test = full.predict(test_layer_pred) if len(test_layer_pred) else np.zeros(0)
    return StackResult(valid_score=valid, test_pred=test, coef=full.coef_)
