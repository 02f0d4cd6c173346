"""Run the selection strategies of one (encoder, task, seed): choose first, then score test.

:func:`choose` sees the probe cells (each layer's validation score, penalty and test
**predictions**) and the train / valid rows with their labels; it never receives a test
label. :func:`select_and_score` calls it, and only then reads the test labels to score each
strategy's predictions. The CV fits, ``concat`` and ``mix`` are the expensive parts; given a
``cache_dir`` (the sweep's ``cells/<encoder>/<task>/seed<s>/``) each is written there
atomically as it completes and read back on a rerun, like the per-layer cells.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from molstrata.core.errors import ConfigError
from molstrata.core.files import atomic_write, read_cached
from molstrata.data import evaluate
from molstrata.probe import cv as cv_mod
from molstrata.probe._numerics import NUMERICS
from molstrata.probe._probe import LayerCell, LayerScores, ProbeData, assemble
from molstrata.probe.combine import CONCAT_SIZES, MixProbe, ensemble_weights, mix_layers, top_layers
from molstrata.probe.cv import (
    DEFAULT_FOLDS,
    CVResult,
    cross_validate,
    scaffold_folds,
    scaffold_group_ids,
)
from molstrata.probe.estimators import make_probe
from molstrata.probe.linear import DEFAULT_ALPHAS, DEFAULT_CS
from molstrata.probe.selection import (
    SelectionSpec,
    cv_means,
    select_cv,
    select_cv_1se,
)

#: bump when what the cached CV / concat / mix files hold changes (the files also hold the
#: numerics version, :data:`molstrata.probe._numerics.NUMERICS`, and are recomputed when it differs)
CACHE_VERSION = 1


@dataclass(frozen=True, eq=False)
class Choice:
    """What one strategy chose for one (encoder, task, seed), before any test label is read.

    Attributes
    ----------
    strategy : str
    label : str, the choice as tables show it: ``"7"`` (one layer), ``"3+5"`` (concat),
        ``"ens t=2"`` (ensemble temperature), ``"mix 1-15"``
    weights : ndarray (n_layers,), each layer's share of the prediction: one-hot for a single
        layer, ``1/m`` on the concatenated layers, the ensemble or mixing weights
    test_pred : ndarray (n_test,), test predictions (test-file order)
    layer : int or None, the layer for single-layer strategies
    info : dict, JSON-able details (CV means, m, temperature, penalty...)
    """

    strategy: str
    label: str
    weights: np.ndarray
    test_pred: np.ndarray
    layer: int | None = None
    info: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class SelectionResult:
    """A strategy's test score for one (encoder, task, seed).

    Attributes
    ----------
    encoder, task, metric, strategy, label : str
    seed : int
    test_score : float, the strategy's test score
    final_test_score : float, the final layer's test score (same seed)
    weights : ndarray (n_layers,), as in :class:`Choice`
    info : dict
    """

    encoder: str
    task: str
    metric: str
    seed: int
    strategy: str
    label: str
    test_score: float
    final_test_score: float
    weights: np.ndarray
    info: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------ cache
def _load(path: Path | None, **expect: Any) -> dict[str, np.ndarray] | None:
    """The arrays cached at ``path``, or ``None`` when absent, stale (other ``expect``ed
    values) or damaged (with a warning): the caller recomputes."""
    if path is None:
        return None

    def read(p: Path) -> dict[str, np.ndarray]:
        with np.load(p, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in z.files}

    data = read_cached(path, read, what="selection cache")
    if data is None:
        return None
    if int(data.get("version", -1)) != CACHE_VERSION:
        return None
    if str(data.get("numerics", "1")) != NUMERICS:  # other round-off (probe._numerics.NUMERICS)
        return None
    for key, value in expect.items():
        if key not in data or not np.array_equal(data[key], np.asarray(value)):
            return None
    return data


def _save(path: Path | None, **arrays: Any) -> None:
    if path is None:
        return
    atomic_write(path, lambda fh: np.savez(fh, version=CACHE_VERSION, numerics=np.array(NUMERICS),
                                                **arrays), cache=False)


# ---------------------------------------------------------------------------- choices
def _full_test_pred(data: ProbeData, pred_ok: np.ndarray) -> np.ndarray:
    """Predictions for every test row: ``pred_ok`` on the embedded ones, the training mean
    (prevalence) on the others, as :func:`~molstrata.probe._probe.fit_layers` does."""
    out = np.full(data.test_valid.size, float(np.mean(data.y_train)))
    out[data.test_valid] = pred_ok
    return out


def _layer_label(layers: Sequence[int]) -> str:
    layers = list(layers)
    if len(layers) > 2 and layers == list(range(layers[0], layers[-1] + 1)):
        return f"{layers[0]}-{layers[-1]}"
    return "+".join(map(str, layers))


def _one_hot(n: int, k: int) -> np.ndarray:
    w = np.zeros(n)
    w[k] = 1.0
    return w


def trainval_groups(data: ProbeData) -> np.ndarray:
    """Scaffold group of each ``train_val`` row of ``data`` (train rows, then valid rows)."""
    smiles = list(data.trainval_smiles)
    n = data.y_train.size + data.y_valid.size
    if len(smiles) != n:
        raise ConfigError(f"ProbeData holds {len(smiles)} train/valid SMILES for {n} rows; build it "
                          "with molstrata.probe._probe.prepare")
    return scaffold_group_ids(smiles)


def choose(
    data: ProbeData,
    cells: Mapping[int, LayerCell],
    *,
    selections: SelectionSpec | str | Sequence[str],
    task_type: str,
    metric: str,
    seed: int,
    model: str = "linear",
    params: Mapping[str, Any] | None = None,
    cv_folds: int = DEFAULT_FOLDS,
    cache_dir: str | Path | None = None,
) -> dict[str, Choice]:
    """Every requested strategy's choice for one (task, seed), from train and valid only.

    The CV (``cv``, ``cv-1se``, ``concat``, ``ensemble``) runs on ``train ∪ valid`` with
    :func:`~molstrata.probe.cv.cross_validate`, over every other point of the regularisation
    grid (:func:`coarse_grid`); for a linear probe on a classification task it fits ridge
    probes to the 0/1 labels (:data:`~molstrata.probe.cv.CLASSIFICATION_CV_PROBE`). Every
    test prediction comes from probes fit on train and tuned on valid with the full grid.

    Parameters
    ----------
    data : train / valid rows with labels, test rows without (from ``prepare``)
    cells : layer -> :class:`LayerCell`, each layer's probe fit on train and tuned on valid
    selections : a :class:`~molstrata.probe.selection.SelectionSpec`, or names or ``"all"``
        (:func:`~molstrata.probe.selection.parse_selection`)
    task_type, metric : the task's
    seed : the split seed (seeds the CV folds and the MLP / GBDT probes)
    model, params : the probe, as for the cells
    cv_folds : k of the scaffold-grouped CV
    cache_dir : where the CV, concat and mix results are cached (None: not cached)

    Returns
    -------
    dict strategy -> Choice, in the order of ``selections``
    """
    spec = SelectionSpec.of(selections)
    n_layers = len(cells)
    if sorted(cells) != list(range(n_layers)):
        raise ConfigError(f"cells for layers {sorted(cells)}; expected 0..{n_layers - 1}")
    cache = Path(cache_dir) if cache_dir is not None else None
    out: dict[str, Choice] = {}
    valid_scores = np.array([cells[k].valid_score for k in range(n_layers)])

    def single(name: str, layer: int, info: dict | None = None) -> Choice:
        return Choice(name, str(layer), _one_hot(n_layers, layer), cells[layer].test_pred, layer, info or {})

    cv: CVResult | None = None
    y_tv = np.concatenate([data.y_train, data.y_valid])
    cv_type = cv_task_type(model, task_type)
    if spec.needs_cv:
        cv = _cv_result(data, y_tv, n_layers, model=model, cv_type=cv_type, metric=metric,
                        seed=seed, params=params, cv_folds=cv_folds, cache=cache)
    cv_info = ({"cv_mean": [float(v) for v in cv_means(cv.fold_scores, metric)], "cv_folds": cv_folds,
                "cv_probe": _cv_probe_name(model, cv_type)} if cv is not None else {})

    for strategy in spec.strategies:
        name = strategy.name
        if strategy.on_valid is not None:  # from the validation scores alone
            out[name] = single(name, int(strategy.on_valid(valid_scores, metric)))
        elif name == "cv":
            out[name] = single(name, select_cv(cv.fold_scores, metric), cv_info)
        elif name == "cv-1se":
            out[name] = single(name, select_cv_1se(cv.fold_scores, metric), cv_info)
        elif name == "ensemble":
            out[name] = _ensemble(name, cv, y_tv, cells, metric, cv_info)
        elif name == "concat":
            out[name] = _concat(data, cv, y_tv, n_layers, task_type=task_type, cv_type=cv_type,
                                metric=metric, seed=seed, model=model, params=params, cache=cache,
                                cv_folds=cv_folds, info=cv_info)
        elif name == "mix":
            out[name] = _mix(data, n_layers, task_type=task_type, metric=metric, model=model,
                             params=params, cache=cache)
    return out


def _cv_result(
    data: ProbeData, y_tv: np.ndarray, n_layers: int, *, model: str, cv_type: str, metric: str,
    seed: int, params: Mapping[str, Any] | None, cv_folds: int, cache: Path | None,
) -> CVResult:
    """The scaffold-grouped CV of every layer on ``train ∪ valid`` (y_tv: (n_tv,)), read from
    ``cache`` when it holds the same folds, else computed (and cached)."""
    folds = scaffold_folds(trainval_groups(data), cv_folds, seed)
    path = cache / f"cv_k{cv_folds}.npz" if cache else None
    got = _load(path, folds=folds, cv_type=np.array(cv_type))
    if got is not None and got["fold_scores"].shape == (cv_folds, n_layers):
        return CVResult(folds=folds, fold_scores=got["fold_scores"], oof=got["oof"])
    X_tv = [np.concatenate([tr, va]) for tr, va in zip(data.train, data.valid, strict=True)]
    cv = cross_validate(X_tv, y_tv, folds, model=model, task_type=cv_type, metric=metric,
                        seed=seed, params=coarse_grid(params, model, cv_type))
    del X_tv
    _save(path, folds=folds, cv_type=np.array(cv_type), fold_scores=cv.fold_scores, oof=cv.oof)
    return cv


def _ensemble(name: str, cv: CVResult, y_tv: np.ndarray, cells: Mapping[int, LayerCell],
              metric: str, cv_info: dict) -> Choice:
    """The CV-weighted ensemble of the layers' test predictions."""
    w, tau = ensemble_weights(cv.fold_scores, cv.oof, y_tv, cv.folds, metric)
    used = np.flatnonzero(w > 0)
    pred = sum(w[k] * cells[int(k)].test_pred for k in used)
    label = f"ens t={tau:g}" if tau > 0 else f"ens t=0 ({used[0]})"
    return Choice(name, label, w, np.asarray(pred, dtype=np.float64), None, {**cv_info, "tau": tau})


def cv_task_type(model: str, task_type: str) -> str:
    """The task type the CV fits: ``"regression"`` (ridge on the 0/1 labels) for a linear
    probe on a classification task when :data:`~molstrata.probe.cv.CLASSIFICATION_CV_PROBE`
    is ``"ridge"``, else the task's own."""
    if model == "linear" and task_type == "classification" and cv_mod.CLASSIFICATION_CV_PROBE == "ridge":
        return "regression"
    return task_type


def _cv_probe_name(model: str, cv_type: str) -> str:
    if model != "linear":
        return model
    return "ridge" if cv_type == "regression" else "logistic"


def coarse_grid(params: Mapping[str, Any] | None, model: str, task_type: str) -> dict[str, Any]:
    """Probe parameters for the CV fits: every other point of the linear probe's
    regularisation grid (a decade apart with the defaults), which halves the cost of the
    logistic fits. The nested choice inside the CV is among these points; every probe
    behind a test prediction (cells, the concat refit, the final mix head) uses the full
    grid."""
    out = dict(params or {})
    if model == "linear":
        key, default = ("Cs", DEFAULT_CS) if task_type == "classification" else ("alphas", DEFAULT_ALPHAS)
        out[key] = list(out.get(key) or default)[::2]
    return out


def _concat(data: ProbeData, cv: CVResult, y_tv: np.ndarray, n_layers: int, *, task_type: str,
            cv_type: str, metric: str, seed: int, model: str, params: Mapping[str, Any] | None,
            cache: Path | None, cv_folds: int, info: dict) -> Choice:
    """``concat``: top-m layers by CV, m chosen by the same CV (:func:`coarse_grid`), refit
    on train / tuned on valid (full grid)."""
    sizes = sorted({min(m, n_layers) for m in CONCAT_SIZES})
    candidates = [top_layers(cv.fold_scores, metric, m) for m in sizes]
    candidates = [c for i, c in enumerate(candidates) if c not in candidates[:i]]
    path = cache / f"concat_k{cv_folds}.npz" if cache else None
    key = np.array(json.dumps(candidates))
    got = _load(path, candidates=key, folds=cv.folds, cv_type=np.array(cv_type))
    if got is None:
        if len(candidates) > 1:
            feats = [np.concatenate([np.concatenate([data.train[k], data.valid[k]]) for k in c], axis=1)
                     .astype(np.float32, copy=False) for c in candidates]
            res = cross_validate(feats, y_tv, cv.folds, model=model, task_type=cv_type, metric=metric,
                                 seed=seed, params=coarse_grid(params, model, cv_type))
            del feats
            means = cv_means(res.fold_scores, metric)
            pick = select_cv(res.fold_scores, metric)  # ties: the smaller m
        else:
            means, pick = np.full(1, np.nan), 0
        layers = candidates[pick]
        est = make_probe(model, task_type, metric, seed, **dict(params or {}))
        cat = lambda part: np.concatenate([part[k] for k in layers], axis=1)  # noqa: E731
        est.fit([cat(data.train)], data.y_train, [cat(data.valid)], data.y_valid)
        pred_ok = est.predict([cat(data.test)])[0] if data.test_valid.any() else np.zeros(0)
        got = {"layers": np.asarray(layers), "cv_means": np.asarray(means, dtype=np.float64),
               "param": np.asarray(float(est.best_param_[0])), "test_pred": _full_test_pred(data, pred_ok)}
        _save(path, candidates=key, folds=cv.folds, cv_type=np.array(cv_type), **got)
    layers = [int(k) for k in got["layers"]]
    w = np.zeros(n_layers)
    w[layers] = 1.0 / len(layers)
    return Choice("concat", _layer_label(layers), w, got["test_pred"], None,
                  {**info, "layers": layers, "candidates": candidates,
                   "candidate_cv_mean": [float(v) for v in got["cv_means"]], "param": float(got["param"])})


def _mix(data: ProbeData, n_layers: int, *, task_type: str, metric: str, model: str,
         params: Mapping[str, Any] | None, cache: Path | None) -> Choice:
    """``mix``: scalar mix of the equal-width layers with a linear head (train / valid)."""
    if model != "linear":
        raise ConfigError(f"--selection mix trains a linear head; it cannot be used with --probe {model}")
    layers = mix_layers([x.shape[1] for x in data.train])
    path = cache / "mix.npz" if cache else None
    got = _load(path, layers=np.asarray(layers))
    if got is None:
        head = {k: v for k, v in dict(params or {}).items() if k in ("alphas", "Cs", "tol", "max_iter")}
        mix = MixProbe(task_type=task_type, metric=metric, **head).fit(
            [data.train[k] for k in layers], data.y_train, [data.valid[k] for k in layers], data.y_valid)
        pred_ok = mix.predict([data.test[k] for k in layers]) if data.test_valid.any() else np.zeros(0)
        got = {"layers": np.asarray(layers), "weights": mix.weights_, "gamma": np.asarray(mix.gamma_),
               "param": np.asarray(mix.param_), "n_iter": np.asarray(mix.n_iter_),
               "test_pred": _full_test_pred(data, pred_ok)}
        _save(path, **got)
    w = np.zeros(n_layers)
    w[layers] = got["weights"]
    return Choice("mix", f"mix {_layer_label(layers)}", w, got["test_pred"], None,
                  {"layers": layers, "weights": [float(v) for v in got["weights"]],
                   "gamma": float(got["gamma"]), "param": float(got["param"]), "n_iter": int(got["n_iter"])})


# ----------------------------------------------------------------------------- score
def select_and_score(
    cells: Mapping[int, LayerCell],
    data: ProbeData,
    split: Any,
    *,
    encoder: str,
    model: str,
    selections: SelectionSpec | str | Sequence[str],
    params: Mapping[str, Any] | None = None,
    cv_folds: int = DEFAULT_FOLDS,
    cache_dir: str | Path | None = None,
    notes: Sequence[str] = (),
) -> tuple[LayerScores, list[SelectionResult]]:
    """Choose with every strategy (:func:`choose`, no test label), then score them on test.

    Returns
    -------
    scores : LayerScores of every layer, whose selection (``selected_layer``, ``test_pred``,
        ``strategy``) is that of the primary strategy
        (:attr:`~molstrata.probe.selection.SelectionSpec.primary`)
    results : one :class:`SelectionResult` per strategy
    """
    spec = SelectionSpec.of(selections)
    choices = choose(data, cells, selections=spec, task_type=split.task_type, metric=split.metric,
                     seed=int(split.seed), model=model, params=params, cv_folds=cv_folds,
                     cache_dir=cache_dir)
    # every choice is final: only now are the test labels read
    base = assemble(cells, split, encoder=encoder, model=model, strategy="valid", notes=notes)
    results = []
    for name, c in choices.items():
        results.append(SelectionResult(
            encoder=encoder, task=split.name, metric=split.metric, seed=int(split.seed), strategy=name,
            label=c.label, test_score=float(evaluate(split.metric, base.test_y, c.test_pred)),
            final_test_score=base.final_test_score, weights=c.weights, info=c.info,
        ))
    primary = spec.primary
    c = choices[primary]
    score = next(r.test_score for r in results if r.strategy == primary)
    layer = c.layer if c.layer is not None else int(np.argmax(c.weights))
    scores = dataclasses.replace(base, selected_layer=layer, test_pred=c.test_pred, strategy=primary,
                                 selected_label=c.label, selected_score=score)
    return scores, results
