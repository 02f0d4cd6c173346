"""The probe sweep: encoders × tasks × seeds × layers, resumable, writing a run folder.

Each encoder embeds the union of all requested tasks' molecules once (through the
embeddings cache); every (task, seed) then indexes into that one array. Finished
(task, seed, layer) cells are written atomically to ``<out>/cells/`` as they complete, so a
killed sweep restarts where it stopped. ``<out>/run.json`` (:mod:`molstrata.runs._record`)
names the run: a rerun with other settings is refused unless ``overwrite``; each (task, seed)
cell folder holds a ``key.json`` of its inputs (file and label hashes, split seed, encoder
identity, probe settings), and cells are reused only when it matches.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# the stages' entry points are looked up when called (so that they can be patched in tests)
from molstrata import embeddings as _embeddings
from molstrata import encoders as _encoders
from molstrata.core.config import save_config
from molstrata.core.errors import ConfigError, check_choice
from molstrata.core.paths import honours_use_cache
from molstrata.core.progress import phase, stderr_console
from molstrata.core.progress import progress as progress_bar
from molstrata.core.seed import parse_seeds
from molstrata.core.threads import fixed_threads
from molstrata.embeddings.store import embeddings_version
from molstrata.probe._numerics import NUMERICS
from molstrata.probe._probe import (
    PROBES,
    LayerCell,
    LayerScores,
    assemble,
    fit_layers,
    make_probe,
    prepare,
)
from molstrata.probe.baseline import BASELINES
from molstrata.probe.device import placed, probe_device
from molstrata.probe.linear import DEFAULT_ALPHAS, DEFAULT_CS
from molstrata.probe.outputs import write_tables
from molstrata.probe.selection import DEFAULT_SELECTION, SelectionSpec, parse_selection
from molstrata.probe.tuned import TUNED_CLASSES
from molstrata.report import build_report
from molstrata.runs import control as _control
from molstrata.runs._baseline import start_baseline
from molstrata.runs._cells import (
    _cell_key,
    _cell_path,
    _check_cells,
    _layer_view,
    _read_cell,
    _write_cell,
    _write_identity,
)
from molstrata.runs._eta import probe_run_eta
from molstrata.runs._molecules import (
    NOTES_FILE,
    flagged_molecules,
    task_molecule_notes,
    write_molecule_notes,
)
from molstrata.runs._order import CLASSIFICATION_WEIGHT, longest_first
from molstrata.runs._record import (
    build_record,
    encoder_identity,
    prepare_out,
    run_folder,
    split_inputs,
    write_record,
)
from molstrata.runs._select import select_jobs
from molstrata.runs._tasks import csv_settings, csv_tasks, load_split, resolve_tasks
from molstrata.runs.predictors import keep_fitted, write_predictors

DEFAULT_SEEDS = (1, 2, 3, 4, 5)


@dataclass
class ProbeRun:
    """What a sweep produced.

    Attributes
    ----------
    scores : list of LayerScores, one per (encoder, task, seed)
    files : dict name -> path of the tables, figures and report written
    notes : list of str, invalid molecules and other things the user must know
    resumed_cells : int, (task, seed, layer) cells read back from an earlier, killed run
    selections : list of SelectionResult, one per (encoder, task, seed, strategy) (empty
        when only ``valid`` was asked for)
    out : the run folder written (``out``, or ``out/probe/`` when ``out`` held another
        command's run: :func:`~molstrata.runs._record.run_folder`)
    control : the random-init twins' ProbeRun (``--control random-twin``), else ``None``
    """

    scores: list[LayerScores]
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    resumed_cells: int = 0
    selections: list[Any] = field(default_factory=list)
    out: Path | None = None
    control: Any = None


# ------------------------------------------------------------------------------- sweep
@honours_use_cache
def sweep(
    encoders: Sequence[Any] | str = ("default",),
    tasks: str | Sequence[str] = "admet",
    seeds: str | Sequence[int] = DEFAULT_SEEDS,
    *,
    model: str = "linear",
    out: str | Path,
    data_dir: str | Path | None = None,
    pooling: str | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    strategy: str | Sequence[str] | SelectionSpec = DEFAULT_SELECTION,
    cv_folds: int = 5,
    params: Mapping[str, Any] | None = None,
    report: bool = True,
    progress: bool = True,
    config: Mapping[str, Any] | None = None,
    executor: Any = None,
    trust_checkpoint: bool = False,
    overwrite: bool = False,
    use_cache: bool = True,
    baseline: str = "none",
    trust_remote_code: bool = False,
    control: str | None = None,
    control_seed: int = _control.DEFAULT_CONTROL_SEED,
) -> ProbeRun:
    """Probe every layer of each encoder on each task and seed; write the run folder.

    Parameters
    ----------
    encoders : registered names / model folders, or :class:`~molstrata.encoders.Encoder`
        instances
    tasks : ``"admet"`` (the 22 TDC ADMET group tasks), ``"t1,t2"`` or a list of names and
        :class:`~molstrata.data.CsvTask` (your own CSV, ``--input``)
    seeds : split seeds (TDC's protocol: 1-5); also seed the probes
    model : ``"linear"``, ``"mlp"``, ``"gbdt"``, ``"mlp-tuned"`` or ``"gbdt-tuned"``
        (:data:`~molstrata.probe.estimators.PROBE_CLASSES`)
    out : run folder: ``probe_results.csv``, ``summary.csv``, ``leaderboard.json``,
        ``predictions/``, ``config.toml``, ``figures/``, ``report.md`` and ``cells/``
        (per-layer results, used to resume)
    data_dir : data folder (default ``MOLSTRATA_DATA_DIR``)
    pooling, batch_size : passed to the encoder / the embeddings cache
    device : the encoder's device (default CUDA when available); when given, also where the
        linear probes and their CV run (:mod:`molstrata.probe.device`; default the CPU)
    strategy : selection strategy or strategies (``--selection``): ``valid`` (alias
        ``valid-best``), ``cv``, ``cv-1se``, ``concat``, ``ensemble``, ``mix``, a comma list or
        ``all``; none sees the test set. The first one given (or
        :data:`~molstrata.probe.selection.DEFAULT_SELECTION` when among them) fills
        ``summary.csv``, the leaderboard and ``predictions/``; with any but ``valid`` alone,
        ``selection.csv`` compares them (:mod:`molstrata.probe.strategies`)
    cv_folds : k of the scaffold-grouped CV inside ``train_val`` (CV strategies)
    params : extra probe parameters (e.g. ``{"alphas": [...]}``)
    report : also write figures and ``report.md``
    config : extra entries for ``config.toml`` (the CLI's resolved options)
    executor : a :class:`molstrata.scale.Executor` (e.g. Ray) for the missing embedding
        chunks and the probe cells; each cell is written here as it arrives. Default
        ``None``: everything in this process. The results do not depend on it, and a run
        started with one executor resumes with another.
    trust_checkpoint : let encoders unpickle checkpoints fully (runs any code in them;
        :func:`~molstrata.encoders.load_encoder`): trusted files only
    overwrite : replace another run in ``out`` (only molstrata's files of it are removed).
        Without it such a folder is refused; a rerun of the same run resumes, reusing a
        cell only when its ``key.json`` (input file and label hashes, split seed, encoder
        identity, probe settings) matches, and recomputing (with a note) otherwise.
    use_cache : ``False`` (``--no-cache``) neither reads nor writes the embeddings cache
        (``MOLSTRATA_CACHE_DIR``); the run folder's cells are still written and resumed.
    baseline : ``"ecfp"`` also probes Morgan/ECFP4 count fingerprints with the same probe on
        the same splits (``baseline.csv``; cells resumed like the encoders'); ``"none"``
        (the library default; the CLI's is ``ecfp``) skips it
    trust_remote_code : let a model folder or hub checkpoint run its own Python code
        (``--trust-remote-code``; e.g. ``molformer-xl``)
    control : ``"random-twin"``: the same sweep on each encoder's random-init twin (seeded by
        ``control_seed``) into ``out/control_random-twin/`` (:mod:`molstrata.runs.control`)

    Returns
    -------
    ProbeRun
    """
    selections = _check_options(model, strategy, cv_folds)
    check_choice("baseline", baseline, BASELINES)
    control = _control.check_control(control, control_seed)
    if isinstance(encoders, str):
        encoders = [encoders]
    if not encoders:
        raise ConfigError("no encoder given; e.g. --encoder default")
    task_names = resolve_tasks(tasks)
    csv = csv_tasks(tasks)
    seed_list = parse_seeds(seeds)
    out = run_folder(out, "probe", overwrite=overwrite)
    effective = _effective_params(model, params)
    # everything is validated (data read, encoders loaded) before anything is written to out
    splits = {(t, s): load_split(csv.get(t, t), s, data_dir).check_labels() for t in task_names for s in seed_list}
    loaded = _load_encoders(encoders, device, trust_checkpoint, trust_remote_code)
    twins = (_control.random_twins(encoders, seed=control_seed, device=device, trust_remote_code=trust_remote_code)
             if control == "random-twin" else [])
    run = _Sweep(out=out, model=model, params=params, pooling=pooling, batch_size=batch_size,
                 selections=selections, cv_folds=cv_folds, executor=executor, progress=progress,
                 use_cache=use_cache, splits=splits, task_names=task_names, seed_list=seed_list,
                 cell_settings={"probe": model, "pooling": pooling,
                                "params": json.loads(json.dumps(effective, default=str)),
                                # fits off the CPU differ in the last bits: their own cells
                                **({"probe_device": placed(device)} if placed(device) != "cpu" else {})},
                 phases=2 + (selections.names != ("valid",)) + (baseline == "ecfp"), device=device)
    for sp in splits.values():
        run.inputs.update(split_inputs(sp, data_dir))
    run.identities.update({e.name: encoder_identity(e) for e in loaded})
    run.refs.update({e.name: ref for e, ref in zip(loaded, encoders, strict=True)})
    # the selection strategies are not part of the run: they reuse its cells (their own
    # results are cached beside them under names that hold their settings)
    record = build_record("probe", {
        **run.cell_settings, "encoders": [e.name for e in loaded], "tasks": task_names, "seeds": seed_list,
        **csv_settings(csv),
    }, run.inputs, run.identities)
    _open_run_folder(out, record, selections, overwrite, {
        **dict(config or {}),
        "encoders": [e if isinstance(e, str) else e.name for e in encoders],
        "tasks": task_names, **csv_settings(csv), "seeds": seed_list, "probe": model, "strategy": list(selections.names),
        "primary_selection": selections.primary, "cv_folds": cv_folds,
        "pooling": pooling, "batch_size": batch_size, "device": device, "baseline": baseline,
        "data_dir": str(data_dir) if data_dir else None, "params": dict(params or {}),
        **({"control": control, "control_seed": control_seed} if twins else {}),
    })
    with probe_run_eta(run, [e.name for e in loaded], baseline == "ecfp"):  # the overall ETA
        (out / "baseline.csv").unlink(missing_ok=True)  # none of an earlier run's stays
        # a local pool fits the baseline's cells (no embeddings needed) while this process embeds
        ecfp = (start_baseline(out, jobs=run.jobs, splits=splits, model=model, params=params,
                               cell_settings=run.cell_settings, inputs=run.inputs, use_cache=use_cache,
                               executor=executor, device=device) if baseline == "ecfp" else None)
        for enc in loaded:
            _sweep_encoder(run, enc)
            if ecfp is not None:
                ecfp.poll()  # the cells finished so far are written (a killed run resumes them)
        if ecfp is not None:
            with phase(run.phases, run.phases, "baseline"):
                ecfp.finish(progress=progress)
    twin_run = _control.run_twins(sweep, twins, out, control_seed, tasks=tasks, seeds=seed_list, model=model,
                                  data_dir=data_dir, pooling=pooling, batch_size=batch_size, device=device,
                                  strategy=selections, cv_folds=cv_folds, params=params, progress=progress,
                                  executor=executor, overwrite=overwrite, use_cache=use_cache)
    finished = _finish(run, out, report)  # after the twins: the report shows their Δ
    finished.control = twin_run
    return finished


def _load_encoders(encoders: Sequence[Any], device: str | None, trust_checkpoint: bool,
                   trust_remote_code: bool = False) -> list:
    """Load the encoders given by name (instances pass through); refuse one given twice."""
    loaded = []
    for enc_ref in encoders:
        enc = (_encoders.load_encoder(enc_ref, device=device, trust_checkpoint=trust_checkpoint,
                                      trust_remote_code=trust_remote_code)
               if isinstance(enc_ref, str) else enc_ref)
        if enc.name in [e.name for e in loaded]:
            raise ConfigError(f"encoder {enc.name!r} given twice")
        loaded.append(enc)
    return loaded


def _open_run_folder(out: Path, record: dict, selections: SelectionSpec, overwrite: bool,
                     config: dict[str, Any]) -> None:
    """Claim ``out`` (another run is refused), drop stale selection tables, write
    ``run.json`` and ``config.toml``."""
    prepare_out(out, record, overwrite=overwrite)
    if selections.names == ("valid",):  # no selection tables this time: none of an earlier rerun stays
        for name in ("selection.csv", "selection_summary.csv", "selection_seeds.csv"):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    write_record(out, record)
    save_config(out, "probe", config)


def _finish(run: _Sweep, out: Path, report: bool) -> ProbeRun:
    """Write the tables, ``notes.txt`` and (with ``report``) the report of a finished sweep."""
    files = write_tables(run.scores, out, selections=run.chosen)
    (out / "notes.txt").write_text("".join(f"{n}\n" for n in run.notes))
    write_molecule_notes(out, run.molecules)
    if report:
        files["report"] = build_report(out)
    return ProbeRun(scores=run.scores, files=files, notes=run.notes, resumed_cells=run.resumed,
                    selections=run.chosen, out=out)


def _check_options(model: str, strategy: str | Sequence[str] | SelectionSpec,
                   cv_folds: int) -> SelectionSpec:
    """The parsed ``--selection`` spec, after checking ``--probe`` and ``--cv-folds``."""
    check_choice("probe", model, PROBES)
    selections = parse_selection(strategy)
    if selections.needs_cv and (
            isinstance(cv_folds, bool) or not isinstance(cv_folds, int) or cv_folds < 3):
        raise ConfigError(f"--cv-folds must be an integer >= 3, got {cv_folds!r}")
    if selections.needs_linear and model != "linear":
        heads = ",".join(s.name for s in selections.strategies if s.needs_linear)
        raise ConfigError(f"--selection {heads} trains a linear head; it cannot be used with --probe {model}")
    return selections


def _effective_params(model: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The probe's parameters as it will use them (part of each cell's key)."""
    effective = make_probe(model, "regression", None, 0, **dict(params or {})).get_params()
    for key in ("task_type", "metric", "seed"):
        effective.pop(key, None)
    if model == "linear":  # the grids actually used, so that changed defaults are noticed
        effective["alphas"] = list(effective["alphas"] or DEFAULT_ALPHAS)
        effective["Cs"] = list(effective["Cs"] or DEFAULT_CS)
    if model in TUNED_CLASSES:  # the tuned heads' grids as fitted, defaults filled in
        effective["grid"] = make_probe(model, "regression", None, 0, **dict(params or {})).resolved_grid()
    return effective


@dataclass
class _Sweep:
    """One sweep's settings and what it has produced so far (filled encoder by encoder)."""

    out: Path
    model: str
    params: Mapping[str, Any] | None
    pooling: str | None
    batch_size: int | None
    selections: SelectionSpec
    cv_folds: int
    executor: Any
    progress: bool
    use_cache: bool
    splits: dict[tuple[str, int], Any]
    task_names: list[str]
    seed_list: list[int]
    cell_settings: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    phases: int = 3  # of the progress labels: embedding, probing, selecting (+ baseline)
    molecules: list[Any] = field(default_factory=list)  # notes/molecules.csv, per encoder
    scores: list[LayerScores] = field(default_factory=list)
    chosen: list[Any] = field(default_factory=list)
    resumed: int = 0
    device: str | None = None  # the probes' (--device; None: the CPU)

    @property
    def jobs(self) -> list[tuple[str, int]]:
        return [(t, s) for t in self.task_names for s in self.seed_list]


def _sweep_encoder(run: _Sweep, enc: Any) -> None:
    """Every (task, seed, layer) cell of ``enc`` (read back or computed), then the selection."""
    _write_identity(run.out, enc)
    _check_encoder_cells(run, enc)
    with phase(1, run.phases, "embedding"):
        emb, index = _embed_all(run, enc)
    done, todo = _plan_cells(run, enc, emb)
    with phase(2, run.phases, "probing"):
        _run_cells(run, enc, emb, index, done, todo)
    if run.selections.names == ("valid",):
        for t, s in run.jobs:
            split = run.splits[(t, s)]
            job_notes = prepare(_layer_view(emb, []), split, index=index).notes
            run.scores.append(assemble(done[(t, s)], split, encoder=enc.name, model=run.model,
                                       strategy="valid", notes=job_notes))
            run.notes.extend(job_notes)
    else:  # CV and combination strategies; cached per (task, seed) beside the cells
        with phase(3, run.phases, "selecting"):
            picked = select_jobs(run.jobs, emb=emb, index=index, splits=run.splits, done=done,
                                 out=run.out, encoder=enc.name, model=run.model, params=run.params,
                                 selections=run.selections, cv_folds=run.cv_folds,
                                 executor=run.executor, progress=run.progress, device=run.device)
        for primary, results, job_notes in picked:
            run.scores.append(primary)
            run.chosen.extend(results)
            run.notes.extend(job_notes)
    run.notes.extend(write_predictors(run, enc, emb, index, run.refs.get(enc.name)))


def _check_encoder_cells(run: _Sweep, enc: Any) -> None:
    """Empty the (task, seed) cell folders computed from other inputs, with a note each."""
    stale: dict[tuple[str, str], list[int]] = {}
    for t, s in run.jobs:
        why = _check_cells(_cell_path(run.out, enc.name, t, s, 0).parent,
                           _cell_key(run.identities[enc.name], {**run.cell_settings, "numerics": NUMERICS,
                                                                "embeddings": embeddings_version()},
                                     run.inputs, t, s))  # numerics: probe._numerics.NUMERICS
        if why:
            stale.setdefault((t, why), []).append(s)
    for (t, why), stale_seeds in stale.items():
        run.notes.append(f"{enc.name} · task {t}: {why}; recomputing the cells of seed(s) "
                         f"{', '.join(map(str, stale_seeds))}")  # printed by the CLI


def _embed_all(run: _Sweep, enc: Any) -> tuple[Any, dict[str, int]]:
    """Every layer of ``enc`` for the union of the tasks' molecules, once: (LayerEmbeddings,
    SMILES -> row)."""
    smiles = list(dict.fromkeys(
        x for sp in run.splits.values() for part in ("train", "valid", "test") for x in sp.smiles(part)
    ))
    if run.progress:
        stderr_console().print(f"[bold]{enc.name}[/]: embedding {len(smiles)} unique molecules "
                               f"({len(run.task_names)} task(s)), every layer, from the cache when possible")
    emb = _embeddings.embed_cached(enc, smiles, pooling=run.pooling, on_invalid="mask",
                                   batch_size=run.batch_size, progress=run.progress,
                                   use_cache=run.use_cache, executor=run.executor)
    run.molecules.append(task_molecule_notes(enc.name, run.splits.values(),
                                             flagged_molecules(smiles, emb.meta)))
    n_cut = int(emb.meta.get("n_truncated", 0) or 0)
    if n_cut:
        run.notes.append(f"{enc.name}: {n_cut} input(s) longer than the encoder's maximum length "
                         f"were truncated before embedding (listed in {NOTES_FILE})")
    if not emb.valid.all():
        bad = np.flatnonzero(~emb.valid)
        run.notes.append(f"{enc.name}: {bad.size} molecule(s) could not be embedded, e.g. "
                         f"{[smiles[i] for i in bad[:5]]} (all listed in {NOTES_FILE})")
    return emb, {s: i for i, s in enumerate(emb.smiles)}


def _plan_cells(run: _Sweep, enc: Any, emb: Any) -> tuple[dict, list[tuple[str, int, list[int]]]]:
    """The cells read back (``{(task, seed): {layer: LayerCell}}``) and those to compute
    (``(task, seed, layers)``: all missing layers at once for the batched linear probe)."""
    done: dict[tuple[str, int], dict[int, LayerCell]] = {}
    todo: list[tuple[str, int, list[int]]] = []
    for t, s in run.jobs:
        n_test = len(run.splits[(t, s)].test)
        cells: dict[int, LayerCell] = {}
        for k in range(emb.n_layers):
            cell = _read_cell(_cell_path(run.out, enc.name, t, s, k), n_test)
            if cell is not None:
                cells[k] = cell
        missing = [k for k in range(emb.n_layers) if k not in cells]
        if run.model == "linear" and missing:  # refit the batch whole: same bytes as a clean run
            cells, missing = {}, list(range(emb.n_layers))
        done[(t, s)] = cells
        run.resumed += len(cells)
        todo += [(t, s, ks) for ks in ([missing] if run.model == "linear" and missing else [[k] for k in missing])]
    return done, todo


def _run_cells(run: _Sweep, enc: Any, emb: Any, index: Mapping[str, int], done: dict,
               todo: list[tuple[str, int, list[int]]]) -> None:
    """Compute ``todo`` (here or on the executor), writing each cell as it arrives."""
    with progress_bar(f"probing {enc.name} ({run.model})", len(run.jobs) * emb.n_layers,
                      show=run.progress) as bar:
        bar.skip(sum(len(c) for c in done.values()))  # read back: no work for the run's ETA

        def store(i: int, new: dict[int, LayerCell]) -> None:  # on this process
            t, s, _ = todo[i]
            new = keep_fitted(_cell_path(run.out, enc.name, t, s, 0).parent, new)
            for k, cell in new.items():
                _write_cell(_cell_path(run.out, enc.name, t, s, k), cell)
                done[(t, s)][k] = cell
            bar.advance(len(new), description=f"probing: seed {s} · {t}")

        shared = {"emb": emb, "index": index, "splits": run.splits, "model": run.model,
                  "params": run.params, "device": run.device}
        if run.executor is None:
            for i, cell in enumerate(todo):
                store(i, _probe_cell(cell, **shared))
        else:  # the longest (task, seed) first: no worker waits on another's long tail
            todo[:] = [todo[i] for i in longest_first(todo, run.splits, classification_weight=CLASSIFICATION_WEIGHT)]
            run.executor.map(_probe_cell, todo, shared=shared, resources={"num_cpus": 1},
                             on_result=store, keep=False)


def _probe_cell(
    cell: tuple[str, int, Sequence[int]], *, emb: Any, index: Mapping[str, int],
    splits: Mapping[tuple[str, int], Any], model: str, params: Mapping[str, Any] | None,
    device: str | None = None,
) -> dict[int, LayerCell]:
    """One cell of the sweep, run wherever the executor puts it: fit and tune the probe of
    ``(task, seed)`` on each of ``layers`` (train and valid only; test rows predicted).

    A cell is exactly one :func:`fit_layers` call of the in-process loop (all missing
    layers for the batched linear probe, one layer otherwise), so every executor computes
    the same numbers.

    Parameters
    ----------
    cell : (task, seed, layers)
    emb : LayerEmbeddings of every molecule, n_layers arrays (n_molecules, dim_k)
    index : SMILES -> row of ``emb``
    splits : (task, seed) -> TaskSplit
    model, params : the probe and its parameters
    device : where the linear probe's torch work runs (None: the CPU)

    Returns
    -------
    dict layer -> LayerCell
    """
    task, seed, layers = cell
    split = splits[(task, seed)]
    data = prepare(_layer_view(emb, layers), split, index=index)
    with fixed_threads(), probe_device(device):  # same bytes whatever the thread count or executor
        new = fit_layers(data, model=model, task_type=split.task_type, metric=split.metric,
                         seed=seed, params=params, export=True)
    return {int(layers[j]): c for j, c in new.items()}
