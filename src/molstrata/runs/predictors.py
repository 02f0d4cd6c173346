"""Saved predictors of a probe run: ``<out>/models/<task>/seed<s>/`` (``models/<encoder>/...``
with several encoders), one per (task, seed), each ``predictor.json`` + ``weights.safetensors``.

A predictor is what filled ``summary.csv`` and ``predictions/``: the primary strategy's
probes (every layer's probe and the weights for ``ensemble``; the one layer's probe for
``valid``, ``cv``, ``cv-1se``; the probe on the concatenated layers for ``concat``), with the
encoder's identity, pooling, layer indices, task type and metric. ``mix`` is not saved (a
note says so). The probes are refitted here exactly as the sweep fitted them (same data, seed
and settings: the same bytes), and each saved predictor is checked against the run's own
test predictions before it is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from molstrata import __version__
from molstrata.core.errors import ConfigError
from molstrata.core.files import atomic_write
from molstrata.core.safeload import UntrustedFileError
from molstrata.core.threads import fixed_threads
from molstrata.probe._probe import prepare
from molstrata.probe.estimators import make_probe
from molstrata.probe.export import READ_FORMATS, SavedProbe, export_probe, format_of
from molstrata.probe.outputs import slug

MODELS = "models"
PREDICTOR_FILE = "predictor.json"
WEIGHTS_FILE = "weights.safetensors"


def predictor_dir(out: Path, encoder: str, task: str, seed: int, multi: bool) -> Path:
    """``<out>/models/[<encoder>/]<task>/seed<s>``."""
    base = Path(out) / MODELS / slug(encoder) if multi else Path(out) / MODELS
    return base / task / f"seed{seed}"


def combine(pred: np.ndarray, combination: Mapping[str, Any]) -> np.ndarray:
    """One prediction per molecule from the probe's outputs (n_inputs, n): the weighted sum
    over the used layers, in layer order (as the ensemble strategy sums them), or the one
    output (concat).

    Returns
    -------
    ndarray (n,)
    """
    if combination["kind"] == "concat":
        return np.asarray(pred[0], dtype=np.float64)
    weights = np.asarray(combination["weights"], dtype=np.float64)
    slots = combination["slots"]
    used = np.flatnonzero(weights > 0)
    total = sum(weights[k] * pred[slots[str(int(k))]] for k in used)
    return np.asarray(total, dtype=np.float64)


def probe_inputs(layers: Sequence[np.ndarray], combination: Mapping[str, Any]) -> list[np.ndarray]:
    """The probe's inputs from every layer's (n, d_k) array: the layers it reads, in slot
    order, or their concatenation (concat)."""
    if combination["kind"] == "concat":
        return [np.concatenate([layers[k] for k in combination["layers"]], axis=1)]
    return [layers[k] for k in combination["inputs"]]


def _combination(model: str, strategy: str, weights: np.ndarray, info: Mapping[str, Any]) -> dict[str, Any]:
    """How the probe's inputs are built and combined for ``strategy``'s choice."""
    n_layers = weights.size
    if strategy == "concat":
        return {"kind": "concat", "layers": [int(k) for k in info["layers"]]}
    used = [int(k) for k in np.flatnonzero(weights > 0)]
    inputs = list(range(n_layers)) if model == "linear" else used  # linear: fitted as one batch
    return {"kind": "weighted", "weights": [float(v) for v in weights], "inputs": inputs,
            "slots": {str(k): inputs.index(k) for k in used}}


def _fitted_name(layers: Sequence[int]) -> str:
    return f"fitted_{layers[0]:03d}_{layers[-1]:03d}_{len(layers)}"


def keep_fitted(folder: Path, cells: Mapping[int, Any]) -> dict[int, Any]:
    """Write the fitted probe the cells carry (``LayerCell.fitted``) beside them in the
    (task, seed) cell folder, ``fitted_<first>_<last>_<n>.{json,safetensors}``; return the
    cells without it (so that a sweep does not hold every probe in memory)."""
    import dataclasses

    out = {}
    written: set[tuple[int, ...]] = set()
    for k, cell in cells.items():
        fitted = getattr(cell, "fitted", None)
        if fitted is not None:
            layers, (meta, arrays) = fitted
            if layers not in written:
                _write_fitted(folder, _fitted_name(layers), meta, arrays)
                written.add(layers)
            cell = dataclasses.replace(cell, fitted=None)
        out[k] = cell
    return out


def _write_fitted(folder: Path, name: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    from safetensors.numpy import save

    atomic_write(folder / f"{name}.safetensors",
                 save({k: np.ascontiguousarray(v) for k, v in arrays.items()}), cache=False)
    atomic_write(folder / f"{name}.json", json.dumps(dict(meta), sort_keys=True), cache=False)


def _read_fitted(folder: Path | None, layers: Sequence[int]) -> tuple[dict, dict] | None:
    """The probe the sweep fitted on ``layers`` of one (task, seed), or None (absent, damaged)."""
    if folder is None:
        return None
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    name = _fitted_name(list(layers))
    try:
        meta = json.loads((folder / f"{name}.json").read_text())
        arrays = load_file(str(folder / f"{name}.safetensors"))
        SavedProbe(meta, arrays)  # a description its arrays do not match: refitted
        return meta, arrays
    except (OSError, ValueError, SafetensorError, ConfigError):
        return None


def _fitted(data: Any, split: Any, combination: Mapping[str, Any], *, model: str,
            params: Mapping[str, Any] | None, cells_dir: Path | None) -> list[tuple[dict, dict]]:
    """The exported probes behind the choice: those the sweep kept beside its cells, else
    refitted as the sweep fitted them (same bytes)."""
    n_layers = len(data.train)
    if combination["kind"] != "concat":
        groups = [list(range(n_layers))] if model == "linear" else [[k] for k in combination["inputs"]]
        kept = [_read_fitted(cells_dir, g) for g in groups]
        if all(x is not None for x in kept):
            return kept
    return [export_probe(e) for e in _fit(data, split, combination, model=model, params=params)]


def _fit(data: Any, split: Any, combination: Mapping[str, Any], *, model: str,
         params: Mapping[str, Any] | None) -> list[Any]:
    """The probes behind the choice, fitted as the sweep fitted them (same bytes)."""
    kw = dict(task_type=split.task_type, metric=split.metric, seed=int(split.seed))
    with fixed_threads():
        if combination["kind"] == "concat":
            cat = lambda part: np.concatenate([part[k] for k in combination["layers"]], axis=1)  # noqa: E731
            est = make_probe(model, **kw, **dict(params or {}))
            return [est.fit([cat(data.train)], data.y_train, [cat(data.valid)], data.y_valid)]
        if model == "linear":  # the sweep fits every layer as one batch
            est = make_probe(model, **kw, **dict(params or {}))
            return [est.fit(data.train, data.y_train, data.valid, data.y_valid)]
        return [make_probe(model, **kw, **dict(params or {})).fit(
            [data.train[k]], data.y_train, [data.valid[k]], data.y_valid) for k in combination["inputs"]]


#: the entries of a probe's description that hold one item per input, by kind
_PER_INPUT = {"mlp": ("y_scale",), "mlp-tuned": ("inputs",), "gbdt-tuned": ("configs",)}


def _merge(exports: list[tuple[dict, dict]]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One probe export, or several single-input ones (mlp, gbdt) as one multi-input probe."""
    if len(exports) == 1:
        return exports[0]
    meta = dict(exports[0][0])
    meta["n_inputs"] = len(exports)
    arrays: dict[str, np.ndarray] = {}
    for key in _PER_INPUT.get(meta["kind"], ()):
        meta[key] = [m[key][0] for m, _ in exports]
    for j, (_, arr) in enumerate(exports):
        arrays.update({f"s{j}." + k.split(".", 1)[1]: v for k, v in arr.items()})
    return meta, arrays


def save_predictor(
    folder: Path, *, emb: Any, index: Mapping[str, int], split: Any, model: str,
    params: Mapping[str, Any] | None, strategy: str, weights: np.ndarray, info: Mapping[str, Any],
    label: str, test_pred: np.ndarray, encoder: Mapping[str, Any], cells_dir: Path | None = None,
) -> str | None:
    """Check and write one (task, seed)'s predictor in ``folder`` (the probes kept in
    ``cells_dir`` by the sweep, or refitted); returns a note when its predictions differ from
    ``test_pred`` (the run's own, (n_test,)), else None."""
    data = prepare(emb, split, index=index)
    combination = _combination(model, strategy, np.asarray(weights, dtype=np.float64), info)
    expected = np.asarray(test_pred)[data.test_valid]

    def check(meta: dict, arrays: dict) -> float:  # largest difference to the run's predictions
        if not data.test_valid.any():
            return 0.0
        got = combine(SavedProbe(meta, arrays).predict(probe_inputs(data.test, combination)), combination)
        return 0.0 if np.array_equal(got, expected) else float(np.max(np.abs(got - expected)))

    meta, arrays = _merge(_fitted(data, split, combination, model=model, params=params, cells_dir=cells_dir))
    diff = check(meta, arrays)
    if diff and cells_dir is not None:  # a kept probe that does not match: refit it
        meta, arrays = _merge(_fitted(data, split, combination, model=model, params=params, cells_dir=None))
        diff = check(meta, arrays)
    note = (f"{split.name} seed {split.seed}: the saved predictor differs from the run's test "
            f"predictions by up to {diff:.3g}") if diff else None
    doc = {
        "format": format_of(meta["kind"]), "molstrata": __version__, "task": split.name, "seed": int(split.seed),
        "task_type": split.task_type, "metric": split.metric, "strategy": strategy, "label": label,
        "probe_model": model, "encoder": dict(encoder), "pooling": str(emb.pooling),
        "n_layers": len(emb.layers), "dims": [int(x.shape[1]) for x in emb.layers],
        "combination": combination, "probe": meta,
        "fallback": float(np.mean(data.y_train)),
    }
    _write(folder, doc, arrays)
    return note


def _write(folder: Path, doc: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    from safetensors.numpy import save

    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / WEIGHTS_FILE, save({k: np.ascontiguousarray(v) for k, v in arrays.items()}),
                 cache=False)
    atomic_write(folder / PREDICTOR_FILE, json.dumps(doc, indent=1, sort_keys=True), cache=False)


def read_predictor(folder: Path) -> tuple[dict[str, Any], SavedProbe]:
    """``(predictor.json, SavedProbe)`` of one saved (task, seed) predictor (no pickle:
    JSON and safetensors only)."""
    path = Path(folder) / PREDICTOR_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the saved predictor ({type(exc).__name__}: {exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") not in READ_FORMATS:
        raise ConfigError(f"{path}: not a molstrata predictor of format "
                          f"{' or '.join(map(str, READ_FORMATS))}")
    arrays = read_weights(Path(folder) / WEIGHTS_FILE)
    try:
        return doc, SavedProbe(doc["probe"], arrays)
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc if isinstance(exc, ConfigError) else repr(exc)}") from exc


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """A predictor's ``weights.safetensors`` as name -> ndarray; a file that is not
    safetensors is refused in one line (a pickle or torch file: :class:`UntrustedFileError`),
    never unpickled."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except (OSError, ValueError, SafetensorError) as exc:
        head = path.read_bytes()[:4] if path.is_file() else b""
        if head[:1] == b"\x80" or head == b"PK\x03\x04":
            raise UntrustedFileError(f"{path}: a pickle or torch file, not safetensors; molstrata never "
                                     "unpickles a saved predictor") from exc
        raise ConfigError(f"{path}: cannot read the saved weights ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from exc


def _cells_dir(out: Path, encoder: str, task: str, seed: int) -> Path:
    """The (task, seed) cell folder of the sweep (``cells/<encoder>/<task>/seed<s>``)."""
    return Path(out) / "cells" / slug(encoder) / task / f"seed{seed}"


def write_predictors(run: Any, enc: Any, emb: Any, index: Mapping[str, int], ref: Any) -> list[str]:
    """Save the primary strategy's predictor of every (task, seed) of ``enc`` in the run
    folder (the sweep's last step per encoder); returns notes (differences, unsaved ones).
    With a local pool (``run.executor``, whose workers share the run folder) the predictors are
    checked and written there, one (task, seed) per job; otherwise in this process.

    Parameters
    ----------
    run : the sweep's state (``out``, ``jobs``, ``splits``, ``scores``, ``chosen``, ``model``,
        ``params``, ``identities``)
    enc : the encoder; ``emb`` every molecule's LayerEmbeddings, ``index`` SMILES -> row
    ref : what the encoder was given as (a registered name or a folder: how ``predict``
        loads it again), or None for an Encoder instance
    """
    notes: list[str | None] = []
    multi = len(run.identities) > 1
    encoder = {"name": enc.name, "ref": ref if isinstance(ref, str) else None,
               "identity": run.identities[enc.name],
               "fields": json.loads(json.dumps(enc.identity(), sort_keys=True, default=str))}
    scores = {(s.task, s.seed): s for s in run.scores if s.encoder == enc.name}
    jobs = []
    for t, s in run.jobs:
        primary = scores[(t, s)]
        if primary.strategy == "mix":
            notes.append(f"{t} seed {s}: the mix strategy's predictor is not saved "
                         "(only ensemble, concat and single-layer choices are)")
            continue
        res = next((r for r in run.chosen if r.encoder == enc.name and r.task == t and r.seed == s
                    and r.strategy == primary.strategy), None)
        if res is None:  # valid only: one layer
            weights = np.zeros(primary.n_layers)
            weights[primary.selected_layer] = 1.0
            info: Mapping[str, Any] = {}
        else:
            weights, info = np.asarray(res.weights), res.info
        notes.append(None)  # this job's note, filled in below
        jobs.append(((t, s), {"folder": predictor_dir(run.out, enc.name, t, s, multi),
                              "strategy": primary.strategy, "weights": weights, "info": info,
                              "label": primary.selection_label, "test_pred": primary.test_pred,
                              "cells_dir": _cells_dir(run.out, enc.name, t, s)}))
    shared = {"emb": emb, "index": index, "splits": run.splits, "model": run.model,
              "params": run.params, "encoder": encoder}
    if getattr(run.executor, "name", None) == "local":  # a local pool: the run folder is its too
        got = run.executor.map(_save_job, jobs, shared=shared, resources={"num_cpus": 1})
    else:
        got = [_save_job(job, **shared) for job in jobs]
    filled = iter(got)  # the jobs' notes, in order, where they stand among the others
    notes = [next(filled) if n is None else n for n in notes]
    return [f"{enc.name} · {n}" for n in notes if n]


def _save_job(job: tuple[tuple[str, int], Mapping[str, Any]], *, emb: Any, index: Mapping[str, int],
              splits: Mapping[tuple[str, int], Any], model: str, params: Mapping[str, Any] | None,
              encoder: Mapping[str, Any]) -> str | None:
    """:func:`save_predictor` of one (task, seed), wherever the executor runs it; its note."""
    key, spec = job
    return save_predictor(emb=emb, index=index, split=splits[key], model=model,
                          params=params, encoder=encoder, **spec)
