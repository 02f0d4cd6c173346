"""The tuned heads' candidates of one (task, seed), chosen and fit without test labels (issue 21).

A candidate is a head on an input:

* heads: :class:`~molstrata.probe.tuned.TunedMLPProbe` (``mlp-tuned``) and
  :class:`~molstrata.probe.tuned.TunedGBDTProbe` (``gbdt-tuned``), each tuned on valid;
* inputs: ``final`` (the last layer), ``cv`` (the layer with the best scaffold-grouped CV
  score of a ridge probe inside ``train_val``), ``top<m>`` (the m best layers by that CV,
  concatenated);
* and ``stack``: a ridge / logistic head on the out-of-fold predictions of every layer's
  ridge probe (:mod:`molstrata.probe.stacking`), from the same CV.

Each candidate carries its validation score (the tuned head's score on the valid split, or
the stacker's estimate on the valid rows) and its test predictions; the test labels are
never read here. A rule written down before scoring test picks among them
(``benchmarks/leaderboard.py``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molstrata.core.errors import ConfigError
from molstrata.probe._probe import ProbeData
from molstrata.probe.combine import top_layers
from molstrata.probe.cv import CVResult, cross_validate, scaffold_folds
from molstrata.probe.linear import LinearProbe
from molstrata.probe.selection import select_cv
from molstrata.probe.stacking import stack_layers
from molstrata.probe.strategies import coarse_grid, cv_task_type, trainval_groups
from molstrata.probe.tuned import TUNED_CLASSES

#: the default heads and inputs
HEADS = ("mlp-tuned", "gbdt-tuned")
INPUTS = ("final", "top3")


@dataclass(frozen=True, eq=False)
class Candidate:
    """One (head, input) of one (task, seed).

    Attributes
    ----------
    name : str, ``"<head>:<input>"`` or ``"stack"``
    layers : tuple of int, the layers it reads
    valid_score : float
    test_pred : ndarray (n_test,), every test row (the training mean where not embedded)
    info : dict, JSON-able (chosen configuration, stacking weights, seconds)
    """

    name: str
    layers: tuple[int, ...]
    valid_score: float
    test_pred: np.ndarray
    info: dict = field(default_factory=dict)


def layer_cv(data: ProbeData, *, task_type: str, metric: str, seed: int, cv_folds: int = 5) -> CVResult:
    """The scaffold-grouped CV of a ridge probe per layer inside ``train_val`` (as the
    ``cv`` selection runs it): fold scores (k, n_layers) and out-of-fold predictions
    (n_train + n_valid, n_layers), train rows first."""
    folds = scaffold_folds(trainval_groups(data), cv_folds, seed)
    X_tv = [np.concatenate([tr, va]) for tr, va in zip(data.train, data.valid, strict=True)]
    y_tv = np.concatenate([data.y_train, data.y_valid])
    cv_type = cv_task_type("linear", task_type)
    return cross_validate(X_tv, y_tv, folds, model="linear", task_type=cv_type, metric=metric,
                          seed=seed, params=coarse_grid(None, "linear", cv_type))


def resolve_inputs(inputs: Sequence[str], fold_scores: np.ndarray, metric: str) -> dict[str, tuple[int, ...]]:
    """Input name -> layers: ``final``, ``cv`` or ``top<m>`` (fold_scores: (k, n_layers))."""
    n_layers = fold_scores.shape[1]
    out = {}
    for name in inputs:
        if name == "final":
            out[name] = (n_layers - 1,)
        elif name == "cv":
            out[name] = (int(select_cv(fold_scores, metric)),)
        elif name.startswith("top") and name[3:].isdigit() and int(name[3:]) >= 1:
            out[name] = tuple(top_layers(fold_scores, metric, int(name[3:])))
        else:
            raise ConfigError(f"unknown input {name!r}; use final, cv or top<m> (e.g. top3)")
    return out


def _full(data: ProbeData, pred_ok: np.ndarray) -> np.ndarray:
    out = np.full(data.test_valid.size, float(np.mean(data.y_train)))
    out[data.test_valid] = pred_ok
    return out


def fit_head(data: ProbeData, head: str, layers: Sequence[int], *, task_type: str, metric: str,
             seed: int, params: Mapping[str, Any] | None = None) -> Candidate:
    """A tuned head on the concatenation of ``layers``: fit on train, tuned on valid."""
    if head not in TUNED_CLASSES:
        raise ConfigError(f"unknown head {head!r}; known: {', '.join(TUNED_CLASSES)}")
    t0 = time.process_time()
    cat = lambda part: np.concatenate([part[k] for k in layers], axis=1)  # noqa: E731
    est = TUNED_CLASSES[head](task_type=task_type, metric=metric, seed=seed, **dict(params or {}))
    est.fit([cat(data.train)], data.y_train, [cat(data.valid)], data.y_valid)
    pred_ok = est.predict([cat(data.test)])[0] if data.test_valid.any() else np.zeros(0)
    info = {"config": int(est.best_param_[0]), "grid_valid": [float(v) for v in est.grid_scores_[0]],
            "cpu_s": round(time.process_time() - t0, 2)}
    return Candidate(f"{head}:", tuple(int(k) for k in layers), float(est.valid_scores_[0]),
                     _full(data, pred_ok), info)


def fit_stack(data: ProbeData, cv: CVResult, *, task_type: str, metric: str) -> Candidate:
    """``stack``: a ridge / logistic head on the layers' out-of-fold ridge predictions."""
    t0 = time.process_time()
    cv_type = cv_task_type("linear", task_type)
    probe_metric = metric if cv_type == task_type else "rmse"  # ridge on 0/1 labels: tuned by rmse
    n_layers = len(data.train)
    ridge = LinearProbe(task_type=cv_type, metric=probe_metric).fit(data.train, data.y_train,
                                                                    data.valid, data.y_valid)
    test_layers = ridge.predict(data.test).T if data.test_valid.any() else np.zeros((0, n_layers))
    y_tv = np.concatenate([data.y_train, data.y_valid])
    res = stack_layers(cv.oof, y_tv, data.y_train.size, test_layers, task_type=task_type, metric=metric)
    info = {"coef": [round(float(c), 6) for c in res.coef], "cpu_s": round(time.process_time() - t0, 2)}
    return Candidate("stack", tuple(range(n_layers)), res.valid_score, _full(data, res.test_pred), info)


def head_candidates(
    data: ProbeData, *, task_type: str, metric: str, seed: int, heads: Sequence[str] = HEADS,
    inputs: Sequence[str] = INPUTS, stack: bool = True, cv_folds: int = 5,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Candidate]:
    """Every (head, input) candidate and ``stack`` for one (task, seed), without test labels.

    Inputs naming the same layers are fit once (the second carries ``same_as``).

    Returns
    -------
    list of Candidate: heads x inputs in order, then ``stack``
    """
    t0 = time.process_time()
    cv = layer_cv(data, task_type=task_type, metric=metric, seed=seed, cv_folds=cv_folds)
    cv_s = round(time.process_time() - t0, 2)
    layer_sets = resolve_inputs(inputs, cv.fold_scores, metric)
    out: list[Candidate] = []
    for head in heads:
        done: dict[tuple[int, ...], tuple[str, Candidate]] = {}
        for name, layers in layer_sets.items():
            if layers in done:
                first, c = done[layers]
                out.append(Candidate(f"{head}:{name}", layers, c.valid_score, c.test_pred,
                                     {**c.info, "same_as": first, "cpu_s": 0.0}))
                continue
            c = fit_head(data, head, layers, task_type=task_type, metric=metric, seed=seed,
                         params=(params or {}).get(head))
            c = Candidate(f"{head}:{name}", c.layers, c.valid_score, c.test_pred, c.info)
            done[layers] = (name, c)
            out.append(c)
    if stack:
        c = fit_stack(data, cv, task_type=task_type, metric=metric)
        out.append(Candidate(c.name, c.layers, c.valid_score, c.test_pred, {**c.info, "cv_s": cv_s}))
    return out
