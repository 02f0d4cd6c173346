"""The fingerprint baseline of a probe run (``--baseline ecfp``): one-layer cells under
``cells/ecfp4-counts/``, keyed, resumed and recomputed like the encoders' cells, and the
table ``baseline.csv`` (:mod:`molstrata.probe.baseline`).

The baseline does not depend on the encoder, so its cells are also kept in the cache folder
(``MOLSTRATA_CACHE_DIR/baseline-cells/``), under a hash of their full key (input file and label
hashes, split seed, fingerprint identity with the RDKit version, probe settings, the sparse
rows' numerics version :data:`~molstrata.probe._numerics.SPARSE_NUMERICS`, molstrata version): a run into a fresh folder, with any encoder, reads them back instead of refitting
(the probe on 2048-d counts is most of the baseline's cost), with the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from molstrata.core.files import atomic_write
from molstrata.core.paths import cache_dir, cache_enabled
from molstrata.core.progress import progress as progress_bar
from molstrata.core.threads import fixed_threads
from molstrata.encoders.fingerprint import (
    ECFP_NAME,
    ecfp_count_rows,
    ecfp_counts,
    ecfp_embeddings,
    ecfp_identity,
)
from molstrata.probe._numerics import SPARSE_NUMERICS
from molstrata.probe._probe import LayerCell, LayerScores, assemble, fit_layers, prepare
from molstrata.probe.baseline import baseline_frame
from molstrata.probe.device import probe_device
from molstrata.runs._cells import _cell_key, _cell_path, _check_cells, _read_cell, _write_cell
from molstrata.runs._order import CLASSIFICATION_WEIGHT, longest_first

#: the folder of the shared baseline cells under the cache folder
SHARED_FOLDER = "baseline-cells"


def sweep_baseline(out: Path, *, jobs: Sequence[tuple[str, int]], splits: Mapping[tuple[str, int], Any],
                   model: str, params: Mapping[str, Any] | None, cell_settings: Mapping[str, Any],
                   inputs: Mapping[str, str], progress: bool = False,
                   use_cache: bool = True, executor: Any = None,
                   device: str | None = None) -> list[LayerScores]:
    """Probe the ECFP4 count fingerprint of every (task, seed) in ``jobs`` (cells read back
    from ``out``, else from the shared cache when their key matches), write ``baseline.csv``
    and return the scores.

    The fingerprints are computed only when a cell is missing; the probe, its grid and the
    splits are the run's own. The missing cells are fitted here, or through ``executor``
    (``--n-jobs``, Ray: the same cells). ``use_cache=False`` (``--no-cache``) neither reads
    nor writes the shared cells. ``device``: the probes' (count fingerprints are sparse, so
    their products stay on the CPU whatever it is).
    """
    return start_baseline(out, jobs=jobs, splits=splits, model=model, params=params,
                          cell_settings=cell_settings, inputs=inputs, use_cache=use_cache,
                          executor=executor, device=device).finish(progress=progress)


def start_baseline(out: Path, *, jobs: Sequence[tuple[str, int]], splits: Mapping[tuple[str, int], Any],
                   model: str, params: Mapping[str, Any] | None, cell_settings: Mapping[str, Any],
                   inputs: Mapping[str, str], use_cache: bool = True, executor: Any = None,
                   device: str | None = None) -> BaselineRun:
    """:func:`sweep_baseline` in two steps: read back the cells and, when ``executor`` can
    queue tasks without waiting (a :class:`~molstrata.scale.LocalExecutor` pool:
    ``submit``), hand it the missing ones now, so that its workers fit them while this process
    does other work (the cold run's embedding); :meth:`BaselineRun.finish` fits whatever was
    not handed out, collects the rest and writes ``baseline.csv``. The same cells, the same
    bytes, whichever way (arguments as :func:`sweep_baseline`).
    """
    run = BaselineRun(out=out, jobs=list(jobs), splits=splits, model=model, params=params,
                      use_cache=use_cache, executor=executor, device=device)
    for task, seed in run.jobs:
        path = _cell_path(out, ECFP_NAME, task, seed, 0)
        run.keys[(task, seed)] = key = _cell_key(ecfp_identity(), {**cell_settings, "numerics": SPARSE_NUMERICS},
                                                inputs, task, seed)  # numerics: probe._numerics
        _check_cells(path.parent, key)
        run.shared[(task, seed)] = _shared_path(key) if use_cache and cache_enabled() else None
        cell = _read_back(path, run.shared[(task, seed)], len(splits[(task, seed)].test))
        if cell is not None:
            run.cells[(task, seed)] = cell
    run.read_back = len(run.cells)
    run.todo = [job for job in run.jobs if job not in run.cells]
    if run.todo and executor is not None:  # the longest first: no worker waits on another's long tail
        run.todo = [run.todo[i] for i in longest_first(run.todo, splits, classification_weight=CLASSIFICATION_WEIGHT)]
        if hasattr(executor, "submit"):
            run.pending = executor.submit(_fit_job, run.todo, shared=run.common(),
                                          resources={"num_cpus": 1}, on_result=run.store)
    return run


@dataclass
class BaselineRun:
    """The baseline of one probe run between :func:`start_baseline` and :meth:`finish`."""

    out: Path
    jobs: list[tuple[str, int]]
    splits: Mapping[tuple[str, int], Any]
    model: str
    params: Mapping[str, Any] | None
    use_cache: bool
    executor: Any
    device: str | None
    cells: dict[tuple[str, int], LayerCell] = field(default_factory=dict)
    keys: dict[tuple[str, int], Mapping[str, str]] = field(default_factory=dict)
    shared: dict[tuple[str, int], Path | None] = field(default_factory=dict)
    todo: list[tuple[str, int]] = field(default_factory=list)
    read_back: int = 0
    pending: Any = None  # the executor's batch of the todo cells, when handed out early
    bar: Any = None

    def common(self) -> dict[str, Any]:
        """The fit jobs' shared arguments (the fingerprints computed once, by the pool's
        workers when there is a pool)."""
        return {"fingerprints": _fingerprints(self.splits, self.executor), "splits": self.splits,
                "model": self.model, "params": self.params, "device": self.device}

    def store(self, i: int, cell: LayerCell) -> None:
        """Keep the cell of ``todo[i]`` (run folder and shared cache), on this process."""
        task, seed = self.todo[i]
        _write_cell(_cell_path(self.out, ECFP_NAME, task, seed, 0), cell)
        if self.shared[(task, seed)] is not None:
            _write_shared(self.shared[(task, seed)], self.keys[(task, seed)], cell)
        self.cells[(task, seed)] = cell
        if self.bar is not None:
            self.bar.advance(description=f"ECFP4: seed {seed} · {task}")

    def poll(self) -> None:
        """Keep the cells the pool has finished so far (none when nothing was handed out)."""
        if self.pending is not None:
            self.pending.poll()

    def finish(self, *, progress: bool = False) -> list[LayerScores]:
        """Every cell (collected, or fitted now), ``baseline.csv`` written; the scores."""
        with progress_bar("ECFP4 counts, the same probe", len(self.jobs), show=progress) as bar:
            bar.skip(self.read_back)  # read back: no work for the run's ETA
            if self.pending is not None:
                bar.advance(len(self.cells) - self.read_back)
                self.bar = bar
                self.pending.wait()
            elif self.todo:
                self.bar = bar
                if self.executor is None:
                    common = self.common()
                    for i, job in enumerate(self.todo):
                        self.store(i, _fit_job(job, **common))
                else:
                    self.executor.map(_fit_job, self.todo, shared=self.common(), resources={"num_cpus": 1},
                                      on_result=self.store, keep=False)
            self.bar = None
        scores = [assemble({0: self.cells[(t, s)]}, self.splits[(t, s)], encoder=ECFP_NAME, model=self.model,
                           strategy="valid") for t, s in self.jobs]
        atomic_write(self.out / "baseline.csv", baseline_frame(scores).to_csv(index=False), cache=False)
        return scores


def _read_back(path: Path, shared: Path | None, n_test: int) -> LayerCell | None:
    """The cell in the run folder, else the shared one (copied into the run folder)."""
    cell = _read_cell(path, n_test)
    if cell is None and shared is not None:
        cell = _read_cell(shared, n_test)
        if cell is not None:
            _write_cell(path, cell)
    return cell


def _fit_job(job: tuple[str, int], *, fingerprints: tuple[Any, dict[str, int]],
             splits: Mapping[tuple[str, int], Any], model: str,
             params: Mapping[str, Any] | None, device: str | None = None) -> LayerCell:
    """The baseline cell of ``job`` = (task, seed), wherever the executor runs it."""
    split = splits[job]
    with probe_device(device):
        return _fit(fingerprints, split, model=model, seed=job[1], params=params)


def _fit(fingerprints: tuple[Any, dict[str, int]], split: Any, *, model: str, seed: int,
         params: Mapping[str, Any] | None) -> LayerCell:
    """The one-layer probe cell of ``split`` on the fingerprints (train and valid only)."""
    emb, index = fingerprints
    with fixed_threads():
        return fit_layers(prepare(emb, split, index=index), model=model, task_type=split.task_type,
                          metric=split.metric, seed=seed, params=params)[0]


def _shared_path(key: Mapping[str, str]) -> Path:
    """Where the cell of ``key`` is kept in the cache folder (key hashed with the version)."""
    from molstrata import __version__

    blob = json.dumps({**key, "molstrata": __version__}, sort_keys=True).encode()
    return cache_dir() / SHARED_FOLDER / hashlib.sha256(blob).hexdigest()[:32] / "layer000.npz"


def _write_shared(path: Path, key: Mapping[str, str], cell: LayerCell) -> None:
    """Keep ``cell`` in the cache folder with its key beside it (an unwritable cache only
    costs the reuse)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_cell(path, cell)
        atomic_write(path.parent / "key.json", json.dumps(dict(key), sort_keys=True, indent=2), cache=False)
    except OSError:
        return


#: fewer molecules than twice this are fingerprinted in this process
_MIN_SLICE = 2000


def _fingerprints(splits: Mapping[tuple[str, int], Any], executor: Any = None) -> tuple[Any, dict[str, int]]:
    """The ECFP4 counts of every molecule of the run's splits, and their row index.

    With a local pool (``executor.workers`` > 1) its workers compute consecutive slices of
    the molecules and the rows are stacked here: each row depends on its molecule only, so
    the array is the one this process would compute.
    """
    smiles = list(dict.fromkeys(x for sp in splits.values()
                                for part in ("train", "valid", "test") for x in sp.smiles(part)))
    workers = int(getattr(executor, "workers", 1)) if hasattr(executor, "submit") else 1
    if workers < 2 or len(smiles) < 2 * _MIN_SLICE:
        emb = ecfp_counts(smiles)
    else:
        bounds = np.linspace(0, len(smiles), 2 * workers + 1).astype(int)  # a few slices a worker
        parts = executor.map(ecfp_count_rows, [smiles[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
        emb = ecfp_embeddings(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), smiles)
    return emb, {s: i for i, s in enumerate(emb.smiles)}


