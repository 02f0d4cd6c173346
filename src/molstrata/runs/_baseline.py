"""The fingerprint baseline of a probe run (``--baseline ecfp``): one-layer cells under
``cells/ecfp4-counts/``, keyed, resumed and recomputed like the encoders' cells, and the
table ``baseline.csv`` (:mod:`molstrata.probe.baseline`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from molstrata.core.files import atomic_write
from molstrata.core.progress import progress as progress_bar
from molstrata.core.threads import fixed_threads
from molstrata.probe._probe import LayerScores, assemble, fit_layers, prepare
from molstrata.probe.baseline import ECFP_NAME, baseline_frame, ecfp_counts, ecfp_identity
from molstrata.runs._cells import _cell_key, _cell_path, _check_cells, _read_cell, _write_cell


def sweep_baseline(out: Path, *, jobs: Sequence[tuple[str, int]], splits: Mapping[tuple[str, int], Any],
                   model: str, params: Mapping[str, Any] | None, cell_settings: Mapping[str, Any],
                   inputs: Mapping[str, str], progress: bool = False) -> list[LayerScores]:
    """Probe the ECFP4 count fingerprint of every (task, seed) in ``jobs`` (cells read back
    when their key matches), write ``baseline.csv`` and return the scores.

    The fingerprints are computed only when a cell is missing; the probe, its grid and the
    splits are the run's own.
    """
    fingerprints: list[Any] = []  # [(emb, index)] once computed: only when a cell is missing
    scores = []
    with progress_bar("ECFP4 counts, the same probe", len(jobs), show=progress) as bar:
        for task, seed in jobs:
            split = splits[(task, seed)]
            path = _cell_path(out, ECFP_NAME, task, seed, 0)
            _check_cells(path.parent, _cell_key(ecfp_identity(), cell_settings, inputs, task, seed))
            cell = _read_cell(path, len(split.test))
            if cell is not None:
                bar.skip(1)  # read back: no work for the run's ETA
            else:
                if not fingerprints:
                    fingerprints.append(_fingerprints(splits))
                emb, index = fingerprints[0]
                with fixed_threads():
                    cell = fit_layers(prepare(emb, split, index=index), model=model,
                                      task_type=split.task_type, metric=split.metric, seed=seed,
                                      params=params)[0]
                _write_cell(path, cell)
                bar.advance(description=f"ECFP4: seed {seed} · {task}")
            scores.append(assemble({0: cell}, split, encoder=ECFP_NAME, model=model, strategy="valid"))
    atomic_write(out / "baseline.csv", baseline_frame(scores).to_csv(index=False), cache=False)
    return scores


def _fingerprints(splits: Mapping[tuple[str, int], Any]) -> tuple[Any, dict[str, int]]:
    """The ECFP4 counts of every molecule of the run's splits, and their row index."""
    smiles = list(dict.fromkeys(x for sp in splits.values()
                                for part in ("train", "valid", "test") for x in sp.smiles(part)))
    emb = ecfp_counts(smiles)
    return emb, {s: i for i, s in enumerate(emb.smiles)}
