"""Tuned heads (issue 21): an MLP and a LightGBM probe that search a small grid on validation.

Each probe fits, per layer (or per feature matrix), every configuration of its grid on train,
early-stops each on the validation set, and keeps the configuration with the best validation
score (ties: the earlier one in the grid). The test set plays no part. The grids are small on
purpose: the full MiniMol ADMET sweep (22 tasks x 5 seeds) must fit in about a CPU-hour.

:class:`TunedMLPProbe` optionally averages ``n_inits`` networks of the chosen configuration,
started from different seeds (the extra networks are early-stopped on valid too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from molstrata.core.choice import clearly_better
from molstrata.core.errors import ConfigError
from molstrata.probe._base import PerLayerProbe
from molstrata.probe.gbdt import LGBM_SETTINGS, fit_lgbm, predict_lgbm
from molstrata.probe.mlp import MLPProbe
from molstrata.probe.scoring import greater_is_better, score

#: the MLP grid: width, depth, dropout, weight decay, learning rate (4 configurations)
DEFAULT_MLP_GRID: tuple[dict[str, Any], ...] = (
    {"hidden": 256, "depth": 1, "dropout": 0.1, "weight_decay": 1e-5, "lr": 1e-3},
    {"hidden": 512, "depth": 1, "dropout": 0.5, "weight_decay": 1e-4, "lr": 1e-3},
    {"hidden": 256, "depth": 2, "dropout": 0.3, "weight_decay": 1e-4, "lr": 1e-3},
    {"hidden": 128, "depth": 1, "dropout": 0.2, "weight_decay": 1e-2, "lr": 3e-3},
)
#: the LightGBM grid over :data:`GBDT_BASE` (3 configurations); trees by early stopping
DEFAULT_GBDT_GRID: tuple[dict[str, Any], ...] = (
    {"num_leaves": 15, "min_child_samples": 20},
    {"num_leaves": 63, "min_child_samples": 40},
    {"num_leaves": 7, "min_child_samples": 5, "reg_lambda": 10.0},
)
#: settings shared by every GBDT configuration (the grid overrides them): fewer, faster trees
#: than :data:`LGBM_SETTINGS` (a CPU-hour for 22 tasks x 5 seeds)
GBDT_BASE = {**LGBM_SETTINGS, "learning_rate": 0.1, "n_estimators": 300, "colsample_bytree": 0.2,
             "max_bin": 63}


#: the settings a configuration of the MLP grid may set (the rest is the probe's budget)
_MLP_GRID_KEYS = ("hidden", "depth", "dropout", "weight_decay", "lr")


class DeepMLPProbe(MLPProbe):
    """:class:`~molstrata.probe.mlp.MLPProbe` with ``depth`` hidden layers of width ``hidden``
    (ReLU, dropout after each)."""

    def __init__(self, task_type: str = "regression", metric: str | None = None, hidden: int = 128,
                 depth: int = 1, dropout: float = 0.1, lr: float = 1e-3, weight_decay: float = 1e-5,
                 batch_size: int = 128, max_epochs: int = 200, patience: int = 20, seed: int = 0):
        super().__init__(task_type=task_type, metric=metric, hidden=hidden, dropout=dropout, lr=lr,
                         weight_decay=weight_decay, batch_size=batch_size, max_epochs=max_epochs,
                         patience=patience, seed=seed)
        self.depth = depth

    def _build_net(self, n_in: int):
        from torch import nn

        layers: list[Any] = []
        width = n_in
        for _ in range(max(1, int(self.depth))):
            layers += [nn.Linear(width, self.hidden), nn.ReLU(), nn.Dropout(self.dropout)]
            width = self.hidden
        return nn.Sequential(*layers, nn.Linear(width, 1))


def _pick(scores: Sequence[float], metric: str) -> int:
    """Index of the best score (ties: the first), NaN never best unless all are."""
    better = greater_is_better(metric)
    best = None
    for i, s in enumerate(scores):
        if np.isnan(s):
            continue
        if best is None or clearly_better(s, scores[best], better):
            best = i
    return 0 if best is None else best


class _GridSearchProbe(PerLayerProbe):
    """A per-layer probe that fits a grid of configurations on each layer and keeps the
    best on validation; records every configuration's validation score in ``grid_scores_``."""

    def _keep_grid_scores(self, k: int, scores: Sequence[float]) -> None:
        """Layer ``k``'s scores of every configuration; layer 0 starts a new fit."""
        rows = [*getattr(self, "_grid_scores", [])[:k], list(scores)]
        self._grid_scores = rows
        self.grid_scores_ = np.asarray(rows, dtype=np.float64)


class TunedMLPProbe(_GridSearchProbe):
    """An MLP probe whose configuration is chosen on validation from a small grid.

    Parameters
    ----------
    task_type : ``"regression"`` or ``"classification"``
    metric : validation metric (default ``mae`` / ``roc-auc``)
    grid : sequence of dicts of :class:`DeepMLPProbe` settings (default :data:`DEFAULT_MLP_GRID`)
    n_inits : networks of the chosen configuration averaged (seeds ``seed``, ``seed + 1000``...)
    batch_size, max_epochs, patience : training budget shared by every configuration
    seed : seeds initialisation and batch order

    Attributes
    ----------
    valid_scores_ : ndarray (n_layers,), validation score of the kept (averaged) model
    best_param_ : ndarray of int (n_layers,), the index in ``grid`` chosen per layer
    grid_scores_ : ndarray (n_layers, n_configs), validation score of every configuration
    """

    def __init__(self, task_type: str = "regression", metric: str | None = None,
                 grid: Sequence[Mapping[str, Any]] | None = None, n_inits: int = 1,
                 batch_size: int = 256, max_epochs: int = 100, patience: int = 10, seed: int = 0):
        self.task_type = task_type
        self.metric = metric
        self.grid = grid
        self.n_inits = n_inits
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.seed = seed

    def _configs(self) -> list[dict[str, Any]]:
        configs = [dict(c) for c in (self.grid if self.grid is not None else DEFAULT_MLP_GRID)]
        for i, cfg in enumerate(configs):
            unknown = sorted(set(cfg) - set(_MLP_GRID_KEYS))
            if unknown:
                raise ConfigError(f"mlp-tuned grid entry {i} sets {', '.join(unknown)}; a configuration "
                                  f"sets only {', '.join(_MLP_GRID_KEYS)}")
        return configs

    def resolved_grid(self) -> list[dict[str, Any]]:
        """The grid as fitted: each configuration with :class:`DeepMLPProbe`'s defaults filled
        in (part of a sweep cell's key, so that a changed grid or default is noticed)."""
        out = []
        for cfg in self._configs():
            settings = self._net(cfg, self.seed).get_params()
            out.append({k: settings[k] for k in settings if k in _MLP_GRID_KEYS or k in cfg})
        return out

    def _net(self, cfg: Mapping[str, Any], seed: int) -> DeepMLPProbe:
        return DeepMLPProbe(task_type=self.task_type, metric=self.metric, batch_size=self.batch_size,
                            max_epochs=self.max_epochs, patience=self.patience, seed=seed, **cfg)

    def _fit_one(self, k: int, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray,
                 metric: str) -> tuple[list[tuple[DeepMLPProbe, Any]], np.ndarray, int]:
        configs = self._configs()
        fits, scores = [], []
        for cfg in configs:
            net = self._net(cfg, self.seed)
            model, pred, _ = net._fit_one(k, X, y, Xv, yv, metric)
            fits.append((net, model, pred))
            scores.append(score(metric, yv, pred))
        i = _pick(scores, metric)
        members = [fits[i][:2]]
        preds = [fits[i][2]]
        for j in range(1, max(1, int(self.n_inits))):
            net = self._net(configs[i], self.seed + 1000 * j)
            model, pred, _ = net._fit_one(k, X, y, Xv, yv, metric)
            members.append((net, model))
            preds.append(pred)
        self._keep_grid_scores(k, scores)
        return members, np.mean(preds, axis=0), i

    def _predict_one(self, model: Sequence[tuple[DeepMLPProbe, Any]], X: np.ndarray) -> np.ndarray:
        return np.mean([net._predict_one(m, X) for net, m in model], axis=0)


class TunedGBDTProbe(_GridSearchProbe):
    """A LightGBM probe whose configuration is chosen on validation from a small grid.

    Every configuration is :data:`GBDT_BASE` updated with one entry of ``grid``; its number
    of trees is chosen by early stopping on the validation set.

    Parameters
    ----------
    task_type : ``"regression"`` or ``"classification"``
    metric : validation metric (default ``mae`` / ``roc-auc``)
    grid : sequence of dicts of LightGBM settings (default :data:`DEFAULT_GBDT_GRID`)
    n_estimators : most trees per configuration
    early_stopping_rounds : patience in boosting rounds
    n_jobs : LightGBM threads
    seed : LightGBM ``random_state``

    Attributes
    ----------
    valid_scores_ : ndarray (n_layers,)
    best_param_ : ndarray of int (n_layers,), the index in ``grid`` chosen per layer
    grid_scores_ : ndarray (n_layers, n_configs)
    """

    def __init__(self, task_type: str = "regression", metric: str | None = None,
                 grid: Sequence[Mapping[str, Any]] | None = None, n_estimators: int = 300,
                 early_stopping_rounds: int = 20, n_jobs: int = 1, seed: int = 0):
        self.task_type = task_type
        self.metric = metric
        self.grid = grid
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.n_jobs = n_jobs
        self.seed = seed

    def resolved_grid(self) -> list[dict[str, Any]]:
        """The LightGBM settings of every configuration, as fitted (:data:`GBDT_BASE`,
        ``n_estimators``, then the grid's entry)."""
        grid = self.grid if self.grid is not None else DEFAULT_GBDT_GRID
        return [{**GBDT_BASE, "n_estimators": int(self.n_estimators), **dict(c)} for c in grid]

    def _fit_one(self, k: int, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray,
                 metric: str) -> tuple[Any, np.ndarray, int]:
        models, preds, scores = [], [], []
        for settings in self.resolved_grid():
            model = fit_lgbm(self.task_type, metric, settings, X, y, Xv, yv, seed=self.seed,
                             n_jobs=self.n_jobs, early_stopping_rounds=self.early_stopping_rounds)
            pred = self._predict_one(model, Xv)
            models.append(model)
            preds.append(pred)
            scores.append(score(metric, yv, pred))
        i = _pick(scores, metric)
        self._keep_grid_scores(k, scores)
        return models[i], preds[i], i

    def _predict_one(self, model: Any, X: np.ndarray) -> np.ndarray:
        return predict_lgbm(self.task_type, model, X)


#: the tuned heads by name (``--probe mlp-tuned`` / ``gbdt-tuned``: :mod:`molstrata.probe.estimators`)
TUNED_CLASSES: dict[str, type] = {"mlp-tuned": TunedMLPProbe, "gbdt-tuned": TunedGBDTProbe}
