"""The overall ETA of a probe run (:mod:`molstrata.core.eta`): its segments planned up front,
and the rates it measured saved under the cache folder for the next run with the same key."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from molstrata.core.eta import RunEta, Segment, load_rates, save_rates
from molstrata.core.paths import cache_dir, cache_enabled
from molstrata.core.progress import run_eta


def plan_segments(n_molecules: int, n_jobs: int, encoders: Sequence[str], *, selecting: bool,
                  baseline: bool) -> list[Segment]:
    """Per encoder: embedding (``n_molecules`` units), probing and, with ``selecting``,
    selecting (``n_jobs`` (task, seed) jobs each); then the baseline (``n_jobs``)."""
    phases = ["probing", *(["selecting"] if selecting else [])]
    segments = []
    for _ in encoders:
        segments += [Segment("embedding", float(n_molecules)), *(Segment(p, float(n_jobs)) for p in phases)]
    return segments + ([Segment("baseline", float(n_jobs))] if baseline else [])


@contextmanager
def probe_run_eta(run: Any, encoders: Sequence[str], baseline: bool) -> Iterator[RunEta]:
    """The ETA of the sweep ``run`` (a ``runs.probe._Sweep``) shown by its progress bars;
    on a normal exit, its measured rates are saved (with the cache on)."""
    n_molecules = len({x for sp in run.splits.values() for part in ("train", "valid", "test")
                       for x in sp.smiles(part)})
    key = "|".join([",".join(encoders), run.model, ",".join(run.selections.names), f"cv{run.cv_folds}"])
    use_cache = run.use_cache and cache_enabled()
    eta = RunEta(plan_segments(n_molecules, len(run.jobs), encoders,
                               selecting=run.selections.names != ("valid",), baseline=baseline),
                 priors=load_rates(cache_dir(), key) if use_cache else {})
    with run_eta(eta):
        yield eta
    if use_cache and run.progress:
        save_rates(cache_dir(), key, eta.measured())
