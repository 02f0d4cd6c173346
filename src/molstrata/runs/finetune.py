"""The finetune run: depths × seeds for one task, with the frozen-probe comparison.

``run_finetune`` is what ``molstrata finetune`` calls: it scores the probe sweep's frozen
linear probe (:func:`molstrata.probe._probe.fit_layers`, the code path of ``molstrata probe
--probe linear``) on every layer (validation picks the layers for ``--layers auto``:
evaluate-then-finetune),
finetunes each chosen depth for each seed with :func:`~molstrata.finetune.sweep.finetune`,
and writes the tables, figures and report (:mod:`molstrata.finetune.outputs`). A killed run
resumes: finished (depth, seed) cells are read back from ``cells/``, unfinished ones resume
from their per-epoch checkpoints.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

# the stages' entry points are looked up when called (so that they can be patched in tests)
from molstrata import embeddings as _embeddings
from molstrata import encoders as _encoders
from molstrata.core.config import save_config
from molstrata.core.errors import ConfigError
from molstrata.core.files import atomic_write, read_cached
from molstrata.core.paths import honours_use_cache
from molstrata.core.progress import progress as progress_bar
from molstrata.core.seed import parse_seeds
from molstrata.data import CsvTask, higher_is_better
from molstrata.finetune.model import HeadConfig
from molstrata.finetune.outputs import write_combined, write_outputs
from molstrata.finetune.sweep import DEFAULT_LRS, FinetuneResult, finetune, train_trial
from molstrata.finetune.train import TrainConfig
from molstrata.probe._probe import assemble, fit_layers, prepare
from molstrata.report import build_report
from molstrata.runs._record import (
    build_record,
    describe,
    encoder_identity,
    prepare_out,
    run_folder,
    split_inputs,
    write_record,
)
from molstrata.runs._tasks import csv_settings, csv_tasks, load_split, task_name

if TYPE_CHECKING:
    from molstrata.core.progress import Bar
    from molstrata.finetune.train import EpochReport


def parse_layers(spec: str | Sequence[int], num_layers: int) -> str | list[int]:
    """``"auto"``, ``"all"`` (1..num_layers) or explicit depths ``"2,4"``, range-checked."""
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text == "auto":
            return "auto"
        if text == "all":
            return list(range(1, num_layers + 1))
        try:
            layers = [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(
                f"invalid --layers {spec!r}: use 'auto', 'all' or comma-separated depths like 2,4"
            ) from None
    else:
        layers = [int(x) for x in spec]
    if not layers:
        raise ConfigError("--layers is empty")
    bad = [k for k in layers if not 1 <= k <= num_layers]
    if bad:
        raise ConfigError(
            f"--layers {bad} out of range: the encoder has {num_layers} blocks, so depths are "
            f"1..{num_layers} (0, the embedding layer, cannot be finetuned alone)"
        )
    return sorted(set(layers))


def frozen_scores(encoder: Any, split: Any, *, pooling: str | None = None,
                  use_cache: bool = True) -> pd.DataFrame:
    """The probe sweep's frozen linear probe on every layer of ``encoder`` for one split.

    Ridge (regression) or logistic (classification), regularisation chosen on validation,
    fit on train only: :func:`molstrata.probe._probe.fit_layers` with ``model="linear"``,
    then :func:`molstrata.probe._probe.assemble` scores test, as ``molstrata probe`` does.

    Returns
    -------
    DataFrame with columns ``layer, split, score``: a ``valid`` and a ``test`` row per layer
    (layer 0 = the embedding output). ``use_cache=False`` bypasses the embeddings cache.
    """
    smiles = list(dict.fromkeys(x for part in ("train", "valid", "test") for x in split.smiles(part)))
    emb = _embeddings.embed_cached(encoder, smiles, pooling=pooling, on_invalid="mask", use_cache=use_cache)
    data = prepare(emb, split)
    cells = fit_layers(data, model="linear", task_type=split.task_type, metric=split.metric,
                       seed=int(split.seed))
    scores = assemble(cells, split, encoder=emb.encoder, model="linear", notes=data.notes)
    rows = [{"layer": k, "split": "valid", "score": float(v)} for k, v in enumerate(scores.valid_scores)]
    rows += [{"layer": k, "split": "test", "score": float(v)} for k, v in enumerate(scores.test_scores)]
    return pd.DataFrame(rows)


def auto_layers(frozen: pd.DataFrame, metric: str, num_layers: int, top_m: int = 2) -> list[int]:
    """The ``top_m`` depths (1..num_layers-1) with the best mean frozen-probe **validation**
    score, plus the final layer as the baseline. ``frozen`` needs ``layer, split, score``."""
    valid = frozen[(frozen["split"] == "valid") & frozen["layer"].between(1, num_layers - 1)]
    means = valid.groupby("layer")["score"].mean().dropna()
    ranked = means.sort_values(ascending=not higher_is_better(metric), kind="stable")
    return sorted({*map(int, ranked.index[: max(0, top_m)]), num_layers})


def _cell_path(out: Path, task: str, layer: int, seed: int) -> Path:
    return out / "cells" / f"{task}_layer{layer}_seed{seed}.json"


def _workdir(out: str | Path, task: str, layer: int, seed: int) -> Path:
    """Where the per-learning-rate checkpoints of one (task, depth, seed) cell go."""
    return Path(out) / "checkpoints" / f"{task}_layer{layer}_seed{seed}"


def _finetune_trial(
    trial: tuple[int, int, float], *, encoder: Any, splits: dict[int, Any], task: str,
    config: TrainConfig, head: HeadConfig | None, pooling: str | None, out: str,
) -> dict[str, float]:
    """One (depth, seed, lr) trial, run wherever the executor puts it: train to the final
    checkpoint that the cell's :func:`~molstrata.finetune.sweep.finetune` reads back."""
    k, s, lr = trial
    run = train_trial(encoder, splits[s], lr=lr, workdir=_workdir(out, task, k, s), n_layers=k,
                      seed=s, config=config, head=head, pooling=pooling)
    return {"best_epoch": run.best_epoch, "best_score": run.best_score, "epochs": len(run.history)}


def _save_cell(path: Path, res: FinetuneResult, test_ids: Sequence[Any]) -> None:
    payload = {
        "task": res.task, "metric": res.metric, "task_type": res.task_type,
        "n_layers": res.n_layers, "seed": res.seed, "best_lr": res.best_lr,
        "best_epoch": res.best_epoch, "valid_score": res.valid_score,
        "test_score": res.test_score, "test_pred": res.test_pred.tolist(),
        "history": res.history.to_dict(orient="list"), "invalid": res.invalid,
        "test_ids": [str(x) for x in test_ids],
    }
    atomic_write(path, json.dumps(payload), cache=False)


def _load_cell(path: Path) -> FinetuneResult:
    d = json.loads(path.read_text())
    if not isinstance(d, dict):
        raise ValueError(f"expected a JSON object, got {type(d).__name__}")
    return FinetuneResult(
        task=d["task"], metric=d["metric"], task_type=d["task_type"], n_layers=d["n_layers"],
        seed=d["seed"], history=pd.DataFrame(d["history"]), best_lr=d["best_lr"],
        best_epoch=d["best_epoch"], valid_score=d["valid_score"], test_score=d["test_score"],
        test_pred=np.asarray(d["test_pred"], dtype=np.float64), invalid=d["invalid"],
    )


@honours_use_cache
def run_finetune(
    encoder: str,
    task: str | CsvTask,
    *,
    layers: str | Sequence[int] = "auto",
    seeds: str | Sequence[int] = (1, 2, 3),
    lrs: Sequence[float] = DEFAULT_LRS,
    config: TrainConfig | None = None,
    head: HeadConfig | None = None,
    pooling: str | None = None,
    top_m: int = 2,
    out: str | Path = "finetune_run",
    data_dir: str | Path | None = None,
    device: str | None = None,
    keep_checkpoints: bool = False,
    progress: bool = True,
    executor: Any = None,
    trust_checkpoint: bool = False,
    overwrite: bool = False,
    use_cache: bool = True,
    trust_remote_code: bool = False,
) -> dict[str, Any]:
    """Finetune ``encoder`` on ``task`` at several depths and seeds, and write the report.

    Parameters
    ----------
    encoder : a name or path :func:`~molstrata.encoders.load_encoder` accepts
    task : a task name :func:`~molstrata.data.load_task` accepts, or a
        :class:`~molstrata.data.CsvTask` (your own CSV)
    layers : ``"auto"`` (top ``top_m`` depths by frozen-probe validation score, plus the
        final layer), ``"all"``, or depths; the final layer is always added as the baseline
    seeds : train/valid split seeds, e.g. ``(1, 2, 3)`` or ``"1-3"`` (each also seeds the
        finetune)
    lrs : learning-rate grid, swept for each (depth, seed)
    config : :class:`TrainConfig` (``lr``, ``seed`` are set per run)
    out : the run folder
    executor : a :class:`molstrata.scale.Executor` (e.g. Ray): every (depth, seed, lr)
        trial of the unfinished cells runs there as its own task (one GPU each where the
        cluster has GPUs), checkpointing each epoch under ``out/checkpoints/`` (so ``out``
        must be on a filesystem the workers share); then each cell selects on validation
        and predicts test here, from those checkpoints, as without an executor. Default
        ``None``: everything in this process. Not part of the run's identity: a run started
        locally resumes on Ray and vice versa.
    trust_checkpoint : let the encoder unpickle its checkpoint fully (runs any code in it;
        :func:`~molstrata.encoders.load_encoder`): trusted files only
    overwrite : replace the run in ``out`` (only molstrata's files of it are removed).
        Without it, ``out`` may hold only the same run (``run.json``: same settings, input
        files, labels and encoder); a changed input is refused with its old and new sha256.
    use_cache : ``False`` (``--no-cache``) bypasses the embeddings cache of the frozen
        probes; the run folder's cells and checkpoints are still written and resumed.
    trust_remote_code : let a model folder or hub checkpoint run its own Python code
        (``--trust-remote-code``; e.g. ``molformer-xl``)

    Returns
    -------
    dict with ``results`` (finetune_results DataFrame), ``frozen`` (frozen probe scores),
    ``summary``, ``layers`` and ``out``.
    """
    config = config or TrainConfig()
    seeds = parse_seeds(seeds)
    out = run_folder(out, "finetune", overwrite=overwrite)
    enc = _encoders.load_encoder(encoder, device=device, trust_checkpoint=trust_checkpoint,
                                 trust_remote_code=trust_remote_code)
    L = int(enc.num_layers)
    parsed = parse_layers(layers, L)
    spec, task = task, task_name(task)
    splits = _load_splits(spec, seeds, data_dir)
    first = splits[seeds[0]]
    params = {**_run_params(encoder, task, layers, seeds, lrs, top_m, pooling or enc.default_pooling,
                            config, head), **csv_settings(csv_tasks([spec]))}
    _start_run(out, params, enc, splits, data_dir, overwrite=overwrite)

    frozen = frozen_table(enc, splits, encoder=encoder, task=task, pooling=pooling, use_cache=use_cache)
    chosen = auto_layers(frozen, first.metric, L, top_m) if parsed == "auto" else sorted({*parsed, L})

    save_config(out, "finetune", {**params, "resolved_layers": chosen, "data_dir": data_dir, "device": device,
                                  "executor": executor.describe() if executor else {"executor": "local"}})

    cells = [(k, s) for s in seeds for k in chosen]
    if executor is not None:  # unfinished cells' trials in parallel, each cell written as it completes
        _dispatch_trials(executor, enc, splits, cells, task=task, lrs=lrs, config=config,
                         head=head, pooling=pooling, out=out, keep_checkpoints=keep_checkpoints,
                         progress=progress)
    results = _run_cells(enc, splits, cells, task=task, lrs=lrs, config=config, head=head,
                         pooling=pooling, out=out, keep_checkpoints=keep_checkpoints, progress=progress)
    written = write_outputs(out, encoder=encoder, task=task, num_layers=L, results=results,
                            frozen=frozen, splits=splits)
    build_report(out)  # the same report from the tables, and report.html beside it
    return written


def _load_splits(task: str | CsvTask, seeds: list[int], data_dir: str | Path | None) -> dict[int, Any]:
    """The task's split for each seed; a task with several targets is refused."""
    splits = {s: load_split(task, s, data_dir).check_labels() for s in seeds}
    first = splits[seeds[0]]
    if getattr(first, "n_tasks", 1) != 1:
        raise ConfigError(f"task {task_name(task)!r} has {first.n_tasks} targets; finetune supports one")
    return splits


def _run_params(
    encoder: str, task: str, layers: str | Sequence[int], seeds: list[int], lrs: Sequence[float],
    top_m: int, pooling: str, config: TrainConfig, head: HeadConfig | None,
) -> dict[str, Any]:
    """The settings that name the run (``run.json``, ``config.toml``)."""
    return {
        "encoder": encoder, "task": task, "layers": str(layers) if isinstance(layers, str) else list(layers),
        "seeds": seeds, "lrs": [float(x) for x in lrs], "top_m": top_m,
        "pooling": pooling,
        # lr and seed are set per run from "lrs" and "seeds"
        "train": {k: v for k, v in asdict(config).items() if k not in ("lr", "seed")},
        "head": asdict(head or HeadConfig()),
    }


def _dispatch_trials(
    executor: Any, enc: Any, splits: dict[int, Any], cells: list[tuple[int, int]], *, task: str,
    lrs: Sequence[float], config: TrainConfig, head: HeadConfig | None, pooling: str | None,
    out: Path, keep_checkpoints: bool, progress: bool,
) -> None:
    """Run every (depth, seed, lr) trial of the unfinished cells through ``executor``; each
    checkpoints under ``out/checkpoints/``. A cell is finished (selection on validation,
    test predicted, ``cells/`` written) here as soon as its last trial comes back, so a run
    stopped midway keeps every cell whose trials were all done, not only their checkpoints."""
    trials = [(k, s, float(lr)) for k, s in cells if not _cell_path(out, task, k, s).exists()
              for lr in lrs]
    left = Counter((k, s) for k, s, _ in trials)

    def _on_result(i: int, _: Any) -> None:
        k, s, _lr = trials[i]
        left[(k, s)] -= 1
        if left[(k, s)] == 0:
            _finish_cell(enc, splits, k, s, task=task, lrs=lrs, config=config, head=head,
                         pooling=pooling, out=out, keep_checkpoints=keep_checkpoints)

    executor.map(
        _finetune_trial, trials, resources={"num_cpus": 1, "num_gpus": 1},
        shared={"encoder": enc, "splits": splits, "task": task, "config": config, "head": head,
                "pooling": pooling, "out": str(out)},
        desc=f"finetune {task}: (depth, seed, lr) trials" if progress else None,
        on_result=_on_result, keep=False,
    )


def frozen_table(enc: Any, splits: dict[int, Any], *, encoder: str, task: str,
                 pooling: str | None, use_cache: bool) -> pd.DataFrame:
    """:func:`frozen_scores` of every seed's split, with ``encoder, task, metric`` and
    ``seed`` columns (``frozen_results.csv``)."""
    frozen_rows = []
    for s, split in splits.items():
        df = frozen_scores(enc, split, pooling=pooling, use_cache=use_cache)
        frozen_rows.append(df.assign(seed=s))
    frozen = pd.concat(frozen_rows, ignore_index=True)
    frozen.insert(0, "encoder", encoder)
    frozen.insert(1, "task", task)
    frozen.insert(2, "metric", next(iter(splits.values())).metric)
    return frozen


def _finish_cell(enc: Any, splits: dict[int, Any], k: int, s: int, *, task: str,
                 lrs: Sequence[float], config: TrainConfig, head: HeadConfig | None,
                 pooling: str | None, out: Path, keep_checkpoints: bool,
                 callbacks: Sequence[Any] = ()) -> FinetuneResult:
    """Finetune one (depth ``k``, seed ``s``) cell over ``lrs`` (finished trials are read back
    from their checkpoints), select on validation, predict test once, write ``cells/``."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        res = finetune(
            enc, splits[s], n_layers=k, lrs=lrs, seed=s, config=config, head=head,
            pooling=pooling, workdir=_workdir(out, task, k, s),
            keep_checkpoints=keep_checkpoints, callbacks=list(callbacks),
        )
    _save_cell(_cell_path(out, task, k, s), res, splits[s].test["Drug_ID"].tolist())
    return res


def _run_cells(enc: Any, splits: dict[int, Any], cells: list[tuple[int, int]], *, task: str,
               lrs: Sequence[float], config: TrainConfig, head: HeadConfig | None,
               pooling: str | None, out: Path, keep_checkpoints: bool,
               progress: bool) -> dict[tuple[int, int], FinetuneResult]:
    """Each (depth, seed) cell: read back from ``cells/``, or finetuned (resuming from its
    per-epoch checkpoints) and written there."""
    results: dict[tuple[int, int], FinetuneResult] = {}
    with progress_bar(f"finetune {task}", len(cells), show=progress) as bar:
        for k, s in cells:
            cell = read_cached(_cell_path(out, task, k, s), _load_cell, what="finetune result")
            if cell is None:
                def _tick(rep: EpochReport, k: int = k, s: int = s, bar: Bar = bar) -> None:
                    bar.describe(f"{task} layer {k} seed {s}: lr {rep.lr:g} epoch {rep.epoch} "
                                 f"valid {rep.valid_score:.3f}")

                cell = _finish_cell(enc, splits, k, s, task=task, lrs=lrs, config=config, head=head,
                                    pooling=pooling, out=out, keep_checkpoints=keep_checkpoints,
                                    callbacks=[_tick])
            results[(k, s)] = cell
            bar.advance(1)
    return results


def _start_run(out: Path, params: dict[str, Any], enc: Any, splits: dict[int, Any],
               data_dir: str | Path | None, *, overwrite: bool) -> None:
    """Check ``out`` (:func:`molstrata.runs._record.prepare_out`) and write its ``run.json``.

    A resume is refused when an input changed (task files, labels, encoder weights), naming
    the file and its old and new sha256, unless ``overwrite`` (which starts over)."""
    inputs: dict[str, str] = {}
    for split in splits.values():
        inputs.update(split_inputs(split, data_dir))
    record = build_record("finetune", params, inputs, {enc.name: encoder_identity(enc)})
    old = prepare_out(out, record, overwrite=overwrite)
    if old is not None:
        diff = describe({**old.get("inputs", {}), **{f"encoder {k}": v for k, v in old.get("encoders", {}).items()}},
                        {**record["inputs"], **{f"encoder {k}": v for k, v in record["encoders"].items()}})
        if diff:
            raise ConfigError(
                f"--out {out} holds this finetune run computed from other inputs: {diff}; pass "
                "--overwrite to start it over, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_record(out, record)


def run_finetune_tasks(encoder: str, tasks: Sequence[str | CsvTask], *, out: str | Path = "finetune_run",
                       **kwargs: Any) -> dict[str, Any]:
    """:func:`run_finetune` for several tasks, each in ``out/<task>/``, plus combined tables
    (``finetune_results.csv``, ``summary.csv``, ``leaderboard.json``) and a ``report.md``
    with the frozen-vs-finetuned correlation over tasks in ``out``. Same options as
    :func:`run_finetune`."""
    refs = {task_name(t): t for t in tasks if isinstance(t, CsvTask) or t.strip()}
    tasks = list(refs)
    if not tasks:
        raise ConfigError("--task is empty")
    out = run_folder(out, "finetune", overwrite=bool(kwargs.get("overwrite", False)))
    if len(tasks) == 1:
        return run_finetune(encoder, refs[tasks[0]], out=out, **kwargs)
    # the combined folder is a run of its own (each task's folder is keyed on its data)
    record = build_record("finetune", {"encoder": encoder, "tasks": tasks,
                                       **csv_settings(csv_tasks(list(refs.values())))}, {})
    prepare_out(out, record, overwrite=bool(kwargs.get("overwrite", False)))
    runs = {t: run_finetune(encoder, refs[t], out=out / t, **kwargs) for t in tasks}
    write_record(out, record)
    written = write_combined(out, encoder, runs)
    build_report(out)
    return written
