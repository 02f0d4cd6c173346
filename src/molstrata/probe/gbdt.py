"""A LightGBM probe per layer, with fixed settings and early stopping on validation."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from molstrata.core.errors import OptionalDependencyError
from molstrata.probe._base import PerLayerProbe

#: fixed LightGBM settings (documented, never tuned on test)
LGBM_SETTINGS = dict(
    n_estimators=1000,  # upper bound; early stopping on valid picks the number of trees
    learning_rate=0.05,
    num_leaves=31,
    min_child_samples=20,
    subsample=0.8,
    subsample_freq=1,
    colsample_bytree=0.5,
    reg_lambda=1.0,
)
_LGBM_METRIC = {"mae": "l1", "spearman": "l2", "roc-auc": "auc", "pr-auc": "average_precision"}


class GBDTProbe(PerLayerProbe):
    """Gradient-boosted trees (LightGBM) on each layer's frozen embeddings.

    Settings are :data:`LGBM_SETTINGS`; the number of trees is chosen by early stopping on
    the validation set (``early_stopping_rounds`` without improvement of LightGBM's metric
    matching the task metric: l1 for mae, l2 for spearman, auc, average_precision).

    Parameters
    ----------
    task_type : ``"regression"`` or ``"classification"``
    metric : validation metric (default ``mae`` / ``roc-auc``)
    n_estimators : most trees (default :data:`LGBM_SETTINGS`' 1000)
    early_stopping_rounds : patience in boosting rounds
    n_jobs : LightGBM threads
    seed : LightGBM ``random_state``

    Attributes
    ----------
    valid_scores_ : ndarray (n_layers,)
    best_param_ : ndarray of int (n_layers,), the number of trees kept per layer
    """

    def __init__(self, task_type: str = "regression", metric: str | None = None,
                 n_estimators: int = 1000, early_stopping_rounds: int = 50, n_jobs: int = 2,
                 seed: int = 0):
        self.task_type = task_type
        self.metric = metric
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.n_jobs = n_jobs
        self.seed = seed

    def _fit_one(self, k: int, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray,
                 metric: str) -> tuple[Any, np.ndarray, int]:
        settings = {**LGBM_SETTINGS, "n_estimators": int(self.n_estimators)}
        model = fit_lgbm(self.task_type, metric, settings, X, y, Xv, yv, seed=self.seed,
                         n_jobs=self.n_jobs, early_stopping_rounds=self.early_stopping_rounds)
        return model, self._predict_one(model, Xv), int(model.best_iteration_ or settings["n_estimators"])

    def _predict_one(self, model: Any, X: np.ndarray) -> np.ndarray:
        return predict_lgbm(self.task_type, model, X)


def predict_lgbm(task_type: str, model: Any, X: np.ndarray) -> np.ndarray:
    """(n,) float64 predictions of a fitted LightGBM ``model`` on ``X`` (n, d): values for
    regression, the positive class's probability for classification."""
    if task_type == "regression":
        return model.predict(X).astype(np.float64)
    return model.predict_proba(X)[:, 1].astype(np.float64)


def fit_lgbm(task_type: str, metric: str, settings: dict, X: np.ndarray, y: np.ndarray,
             Xv: np.ndarray, yv: np.ndarray, *, seed: int, n_jobs: int,
             early_stopping_rounds: int) -> Any:
    """A LightGBM model with ``settings`` fit on ``X`` (n, d), ``y`` (n,), early-stopped on
    ``Xv``, ``yv`` with LightGBM's metric matching ``metric`` (:data:`_LGBM_METRIC`)."""
    try:
        import lightgbm as lgb
    except ImportError as exc:
        raise OptionalDependencyError(
            "the gbdt probe needs LightGBM: pip install 'molstrata[gbdt]'"
        ) from exc
    cls = lgb.LGBMRegressor if task_type == "regression" else lgb.LGBMClassifier
    model = cls(**settings, metric=_LGBM_METRIC[metric], random_state=seed, n_jobs=n_jobs, verbose=-1)
    with warnings.catch_warnings():  # eval_set is deprecated in LightGBM 4.7, needed before
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*eval_set.*")
        model.fit(X, y, eval_set=[(Xv, yv)],
                  callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)])
    return model
