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
from pathlib import Path
from typing import Any

from molstrata.core.files import atomic_write
from molstrata.core.paths import cache_dir, cache_enabled
from molstrata.core.progress import progress as progress_bar
from molstrata.core.threads import fixed_threads
from molstrata.encoders.fingerprint import ECFP_NAME, ecfp_counts, ecfp_identity
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
    cells: dict[tuple[str, int], LayerCell] = {}
    keys, shared = {}, {}
    with progress_bar("ECFP4 counts, the same probe", len(jobs), show=progress) as bar:
        for task, seed in jobs:
            path = _cell_path(out, ECFP_NAME, task, seed, 0)
            keys[(task, seed)] = key = _cell_key(ecfp_identity(), {**cell_settings, "numerics": SPARSE_NUMERICS},
                                                 inputs, task, seed)  # numerics: probe._numerics
            _check_cells(path.parent, key)
            shared[(task, seed)] = _shared_path(key) if use_cache and cache_enabled() else None
            cell = _read_back(path, shared[(task, seed)], len(splits[(task, seed)].test))
            if cell is not None:
                cells[(task, seed)] = cell
                bar.skip(1)  # read back: no work for the run's ETA
        todo = [job for job in jobs if job not in cells]
        if executor is not None:  # the longest first: no worker waits on another's long tail
            todo = [todo[i] for i in longest_first(todo, splits, classification_weight=CLASSIFICATION_WEIGHT)]

        def store(i: int, cell: LayerCell) -> None:  # on this process, as each cell arrives
            task, seed = todo[i]
            _write_cell(_cell_path(out, ECFP_NAME, task, seed, 0), cell)
            if shared[(task, seed)] is not None:
                _write_shared(shared[(task, seed)], keys[(task, seed)], cell)
            cells[(task, seed)] = cell
            bar.advance(description=f"ECFP4: seed {seed} · {task}")

        if todo:
            common = {"fingerprints": _fingerprints(splits), "splits": splits, "model": model,
                      "params": params, "device": device}
            if executor is None:
                for i, job in enumerate(todo):
                    store(i, _fit_job(job, **common))
            else:
                executor.map(_fit_job, todo, shared=common, resources={"num_cpus": 1},
                             on_result=store, keep=False)
    scores = [assemble({0: cells[(t, s)]}, splits[(t, s)], encoder=ECFP_NAME, model=model, strategy="valid")
              for t, s in jobs]
    atomic_write(out / "baseline.csv", baseline_frame(scores).to_csv(index=False), cache=False)
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


def _fingerprints(splits: Mapping[tuple[str, int], Any]) -> tuple[Any, dict[str, int]]:
    """The ECFP4 counts of every molecule of the run's splits, and their row index."""
    smiles = list(dict.fromkeys(x for sp in splits.values()
                                for part in ("train", "valid", "test") for x in sp.smiles(part)))
    emb = ecfp_counts(smiles)
    return emb, {s: i for i, s in enumerate(emb.smiles)}
