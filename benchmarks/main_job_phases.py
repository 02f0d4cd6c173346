"""Where the README main job's time goes: process CPU and wall time per phase (issue 22).

Runs ``molstrata probe ARGS`` in this process (the CLI itself, ``cli.main``) with timers
around the sweep's stages (with an empty ``MOLSTRATA_CACHE_DIR``, also the embedding's parts:
parsing, featurisation, forward pass, pooling, cache writes and their hashes), and prints one
line per stage: calls, CPU seconds (this process, user + system) and wall seconds, inclusive
of what the stage calls (indented lines are part of the line above; a stage the timed code
does not have shows 0 calls). Startup is the CPU used before the CLI starts (Python, molstrata's and its
libraries' imports).

Example (the README main job from a warm cache)::

    MOLSTRATA_CACHE_DIR=<warm cache> OMP_NUM_THREADS=1 python benchmarks/main_job_phases.py \\
        -q probe --encoder default --tasks admet --seeds 1,2,3,4,5 --probe linear --out OUT

Timings only: the run folder it writes is the CLI's, byte for byte. One process
(``MOLSTRATA_N_JOBS=1`` unless set, or ``--n-jobs`` given): with a pool, the stages' CPU in
its workers would not be counted.
"""

from __future__ import annotations

import functools
import os
import resource
import sys
import time
from collections.abc import Callable

#: (module, attribute, label, depth): the stages timed, in the order printed
STAGES = (
    ("molstrata.runs.probe", "load_split", "task splits (read, checked)", 1),
    ("molstrata.runs.probe", "split_inputs", "input hashes of the splits", 1),
    ("molstrata.runs.probe", "_load_encoders", "encoder load (model built)", 1),
    ("molstrata.runs.probe", "encoder_identity", "encoder identity (weights hash)", 1),
    ("molstrata.runs.probe", "_embed_all", "embeddings from the cache", 1),
    ("molstrata.embeddings.cache", "plan_embedding", "SMILES parsed, canonical (cached)", 2),
    ("molstrata.embeddings.store", "EmbeddingCache.index", "cache index (chunk listings)", 2),
    ("molstrata.embeddings.store", "_Chunk.verify", "cache reads verified (sha256)", 2),
    ("molstrata.embeddings.cache", "embed_chunk", "chunks computed (cold cache)", 2),
    ("molstrata.encoders.graph.gin", "batch_graphs", "graph featurisation (RDKit)", 3),
    ("molstrata.encoders.graph.gin", "GraphEncoder._run", "network forward", 3),
    ("molstrata.encoders.flow", "pool_states", "pooling", 3),
    ("molstrata.embeddings.store", "EmbeddingCache.write_chunk", "chunks written", 2),
    ("molstrata.embeddings.store", "file_sha256", "sha256 of the written files", 3),
    ("molstrata.embeddings.cache", "_gather", "rows gathered from the chunks", 2),
    ("molstrata.runs.probe", "_probe_cell", "probe cells (train fit, valid grid, test)", 1),
    ("molstrata.runs.probe", "prepare", "rows gathered per (task, seed)", 2),
    ("molstrata.runs.probe", "fit_layers", "linear probe fits", 2),
    ("molstrata.probe.linear", "_logistic_fit", "logistic fits (classification, all layers)", 3),
    ("molstrata.runs.probe", "_write_cell", "cell files written", 1),
    ("molstrata.runs.probe", "select_jobs", "selection (ensemble)", 1),
    ("molstrata.probe.strategies", "_cv_result", "scaffold CV of every layer", 2),
    ("molstrata.probe.strategies", "_ensemble", "ensemble weights", 2),
    ("molstrata.runs.probe", "write_predictors", "saved predictors (models/)", 1),
    ("molstrata.runs.probe", "sweep_baseline", "ECFP4 baseline (cells; before the overlap)", 1),
    ("molstrata.runs.probe", "start_baseline", "ECFP4 baseline started (cells read, queued)", 1),
    ("molstrata.runs._baseline", "BaselineRun.finish", "ECFP4 baseline finished (cells, table)", 1),
    ("molstrata.runs._baseline", "_fingerprints", "ECFP4 counts of every molecule", 2),
    ("molstrata.runs._baseline", "_fit_job", "ECFP4 probe fits (this process)", 2),
    ("molstrata.runs.probe", "write_tables", "tables", 1),
    ("molstrata.runs.probe", "build_report", "report (figures, report.md/html)", 1),
)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn: Callable, acc: list[float]) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        c0, w0 = _cpu(), time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[0] += 1
            acc[1] += _cpu() - c0
            acc[2] += time.perf_counter() - w0

    return wrapper


def main(argv: list[str]) -> int:
    """Run the CLI with ``argv`` under the stage timers; print the table (stderr)."""
    w_start = time.perf_counter()
    # the stages are timed in this process: one process unless --n-jobs / MOLSTRATA_N_JOBS say otherwise
    os.environ.setdefault("MOLSTRATA_N_JOBS", "1")
    import importlib

    import molstrata.cli as cli

    acc: dict[str, list[float]] = {}
    for module, attr, label, _ in STAGES:
        owner = importlib.import_module(module)
        *path, name = attr.split(".")  # "Class.method": the method on its class
        for part in path:
            owner = getattr(owner, part, None)
        acc[label] = [0, 0.0, 0.0]
        if hasattr(owner, name):  # a stage the code being timed does not have stays at 0
            setattr(owner, name, _timed(getattr(owner, name), acc[label]))
    startup = _cpu()
    sys.argv = ["molstrata", *argv]
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    total, wall = _cpu(), time.perf_counter() - w_start
    load = os.getloadavg()
    lines = [f"{'stage':<48} {'calls':>6} {'CPU s':>8} {'wall s':>8}",
             f"{'startup (imports, CLI)':<48} {'':>6} {startup:8.1f} {'':>8}"]
    for _, _, label, depth in STAGES:
        n, c, w = acc[label]
        lines.append(f"{'  ' * (depth - 1) + label:<48} {int(n):>6} {c:8.1f} {w:8.1f}")
    lines.append(f"{'total (process)':<48} {'':>6} {total:8.1f} {wall:8.1f}")
    lines.append(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("\n".join(lines), file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
