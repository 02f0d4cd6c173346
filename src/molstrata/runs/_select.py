"""The probe sweep's selection phase: the CV and combination strategies of every (task, seed)
of one encoder, in this process or through an executor (:func:`select_jobs`)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from molstrata.core.files import atomic_write
from molstrata.core.progress import progress as progress_bar
from molstrata.core.threads import fixed_threads
from molstrata.probe._probe import LayerCell, prepare
from molstrata.probe.device import probe_device
from molstrata.probe.selection import SelectionSpec
from molstrata.probe.strategies import select_and_score
from molstrata.runs._cells import _cell_path, _selection_files
from molstrata.runs._order import longest_first


def select_jobs(
    jobs: Sequence[tuple[str, int]], *, emb: Any, index: Mapping[str, int],
    splits: Mapping[tuple[str, int], Any], done: Mapping[tuple[str, int], Mapping[int, LayerCell]],
    out: Path, encoder: str, model: str, params: Mapping[str, Any] | None, selections: SelectionSpec,
    cv_folds: int, executor: Any, progress: bool, device: str | None = None,
) -> list[tuple[Any, list[Any], list[str]]]:
    """The selection phase (CV and combination strategies), one job per (task, seed), in
    ``jobs`` order: ``(primary LayerScores, SelectionResults, notes)`` each.

    In this process the strategies cache their CV / concat / mix results straight into the
    (task, seed) cell folder. Through an executor each job runs where the executor puts it,
    with the folder's cached files shipped in and the new ones shipped back and written here
    (so workers need no shared filesystem, and a run resumes with any executor). ``device``:
    where the linear probes' torch work runs (None: the CPU).
    """
    label = f"selecting ({','.join(selections.names)})"
    common = {"model": model, "params": params, "selections": selections, "cv_folds": cv_folds,
              "encoder": encoder, "device": device}
    folders = [_cell_path(out, encoder, t, s, 0).parent for t, s in jobs]
    if executor is None:
        picked = []
        with progress_bar(label, len(jobs), show=progress) as bar:
            for (t, s), folder in zip(jobs, folders, strict=True):
                picked.append(_select_one(
                    (t, s), emb=emb, index=index, splits=splits, cells=done[(t, s)],
                    cache_dir=folder, **common))
                bar.advance(1, description=f"selecting: seed {s} · {t}")
        return picked
    cached = {job: {p.name: p.read_bytes() for p in _selection_files(folder)}
              for job, folder in zip(jobs, folders, strict=True)}

    def store(i: int, result: tuple) -> None:  # on this process: write the new cache files
        for name, blob in result[3].items():
            atomic_write(folders[i] / name, blob, cache=False)

    order = longest_first(jobs, splits)  # the longest first: no worker waits on a long tail
    got = executor.map(_select_job, [jobs[i] for i in order], shared={
        "emb": emb, "index": index, "splits": splits, "done": dict(done), "cached": cached, **common,
    }, resources={"num_cpus": 1}, desc=label if progress else None,
        on_result=lambda i, result: store(order[i], result))
    picked: list = [None] * len(jobs)
    for i, r in zip(order, got, strict=True):
        picked[i] = (r[0], r[1], r[2])
    return picked


def _select_one(
    job: tuple[str, int], *, emb: Any, index: Mapping[str, int], splits: Mapping[tuple[str, int], Any],
    cells: Mapping[int, LayerCell], encoder: str, model: str, params: Mapping[str, Any] | None,
    selections: SelectionSpec, cv_folds: int, cache_dir: Path | None, device: str | None = None,
) -> tuple[Any, list[Any], list[str]]:
    """Every strategy's choice and test score for one (task, seed) (no test label before)."""
    split = splits[job]
    data = prepare(emb, split, index=index)
    with fixed_threads(), probe_device(device):  # same bytes whatever the thread count or executor
        primary, results = select_and_score(
            cells, data, split, encoder=encoder, model=model, selections=selections, params=params,
            cv_folds=cv_folds, notes=data.notes, cache_dir=cache_dir)
    return primary, results, list(data.notes)


def _select_job(
    job: tuple[str, int], *, done: Mapping[tuple[str, int], Mapping[int, LayerCell]],
    cached: Mapping[tuple[str, int], Mapping[str, bytes]], **kw: Any,
) -> tuple[Any, list[Any], list[str], dict[str, bytes]]:
    """:func:`_select_one` on a worker: its cache folder is a temporary copy of the run's
    (``cached``: file name -> bytes); returns what it chose plus the files it added."""
    before = cached.get(job, {})
    with tempfile.TemporaryDirectory(prefix="molstrata-select-") as tmp:
        for name, blob in before.items():
            (Path(tmp) / name).write_bytes(blob)
        primary, results, job_notes = _select_one(job, cells=done[job], cache_dir=Path(tmp), **kw)
        after = {p.name: p.read_bytes() for p in _selection_files(Path(tmp))}
    return primary, results, job_notes, {n: b for n, b in after.items() if b != before.get(n)}
