"""Benchmark: the probe sweep on Ray with 1 vs 2 workers, and Ray's overhead vs local.

Measured side by side in one run, on the same sweep (the linear probe on every layer of a
cached encoder for ``--tasks`` x ``--seeds``; one cell per (task, seed), 17 layers each
for MiniMol), each into a fresh run folder:

1. ``local``: ``molstrata.probe.sweep`` in this process (no executor), one BLAS thread;
2. ``ray, 1 worker``: a local Ray instance with ``num_cpus=1`` (cells run one at a time in
   one worker process, one BLAS thread: the same compute as 1, plus Ray's costs: shipping
   the embeddings to the object store once, task dispatch, results back to the driver);
3. ``ray, 2 workers``: a fresh local Ray instance with ``num_cpus=2``.

Ray's start-up (seconds on a quiet machine, much more on a loaded one) is a one-off per
cluster and is reported apart, not in the sweep times; each instance's worker processes
are started and have imported molstrata's probe code before the timing (a warm cluster).
Everything else a sweep does (reading the cached embeddings, the cells, writing the tables)
is inside the timings. The three runs' tables are compared byte for byte.

The embeddings must be in the cache already (``molstrata embed`` / an earlier ``molstrata
probe`` with the same encoder): the benchmark refuses to compute them.

Usage::

    MOLSTRATA_DATA_DIR=../shared/data python benchmarks/ray_speedup.py \\
        --out benchmarks/results/ray_speedup.txt
"""

from __future__ import annotations

import os

# one BLAS/torch thread everywhere (the driver's local run and the Ray workers alike)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import filecmp  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

#: large classification tasks (logistic probes, ~12k molecules): cells of ~10-15 s each
TASKS = "cyp2c9_veith,cyp2d6_veith,cyp3a4_veith"
SEEDS = "1,2,3,4,5"  # the TDC protocol's seeds
TABLES = ("probe_results.csv", "summary.csv", "leaderboard.json")


def _warm(_: int) -> int:
    """A trivial task that imports what a probe cell imports (run once per worker)."""
    import numpy as np

    import molstrata.runs.probe  # noqa: F401
    from molstrata.data import evaluate
    from molstrata.probe.linear import LinearProbe  # noqa: F401

    evaluate("roc-auc", np.array([0.0, 1.0]), np.array([0.2, 0.7]))
    return os.getpid()


def cell_timer(log_dir: Path):
    """``(real, timed)``: the sweep's cell function and a wrapper that records, per cell, its
    wall time, the CPU time of its thread (the fit; one BLAS thread) and of its process."""
    from molstrata.runs import probe as runner

    real = runner._probe_cell

    def timed_cell(cell, **kw):
        import json
        import os
        import time
        import uuid

        w0, t0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
        out = real(cell, **kw)
        rec = {"pid": os.getpid(), "wall": time.perf_counter() - w0,
               "thread_cpu": time.thread_time() - t0, "process_cpu": time.process_time() - p0}
        (log_dir / f"{uuid.uuid4().hex}.json").write_text(json.dumps(rec))
        return out

    return real, timed_cell


def start_ray(num_cpus: int, tmp: Path) -> float:
    """Start a local Ray instance with ``num_cpus`` CPUs; warm its workers. Seconds taken."""
    import ray

    t0 = time.perf_counter()
    for attempt in (1, 2, 3):  # a start-up that still timed out gets more tries
        try:
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                     log_to_driver=False, _temp_dir=str(tmp))
            break
        except Exception as exc:
            ray.shutdown()
            if attempt == 3 or "timed out during startup" not in str(exc):
                raise
    warm = ray.remote(_warm).options(num_cpus=1)
    pids = set(ray.get([warm.remote(i) for i in range(4 * num_cpus)]))
    while len(pids) < num_cpus:  # until every CPU's worker has imported the probe code
        pids |= set(ray.get([warm.remote(i) for i in range(4 * num_cpus)]))
    return time.perf_counter() - t0


class Timed:
    """An executor that adds up the wall time of its ``map`` calls (the cell phase)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.seconds = inner, inner.name, 0.0

    def map(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.inner.map(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0

    def describe(self):
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()


def run_sweep(encoder, tasks: str, seeds: str, out: Path, data_dir: str | None,
              executor) -> tuple[float, float, dict[str, float]]:
    """(whole sweep, cell phase) wall times in seconds, and the cells' summed timings."""
    import json

    from molstrata.runs import probe as runner
    from molstrata.runs.probe import sweep

    log_dir = out.with_name(out.name + "_cells")
    log_dir.mkdir(parents=True)
    real, timed_cell = cell_timer(log_dir)
    timed = Timed(executor)
    runner._probe_cell = timed_cell
    try:
        t0 = time.perf_counter()
        sweep([encoder], tasks, seeds, out=out, data_dir=data_dir, report=False,
              progress=False, executor=timed)
        whole = time.perf_counter() - t0
    finally:
        runner._probe_cell = real
    recs = [json.loads(f.read_text()) for f in log_dir.iterdir()]
    sums = {k: sum(r[k] for r in recs) for k in ("wall", "thread_cpu", "process_cpu")}
    sums["n"], sums["workers"] = len(recs), len({r["pid"] for r in recs})
    return whole, timed.seconds, sums


def same_tables(a: Path, b: Path) -> bool:
    names = [*TABLES, *(f"predictions/{p.name}" for p in sorted((a / "predictions").iterdir()))]
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="minimol")
    parser.add_argument("--tasks", default=TASKS)
    parser.add_argument("--seeds", default=SEEDS)
    parser.add_argument("--data-dir", default=os.environ.get("MOLSTRATA_DATA_DIR"))
    parser.add_argument("--out", type=Path, default=None, help="Also write the report here.")
    args = parser.parse_args()

    import ray

    from molstrata.core.seed import parse_seeds
    from molstrata.data import load_task
    from molstrata.embeddings import embed_cached
    from molstrata.encoders import load_encoder
    from molstrata.runs.probe import resolve_tasks
    from molstrata.scale import LocalExecutor
    from molstrata.scale.ray_executor import RayExecutor, patient_local_start

    patient_local_start(wait_s=180)
    load_before = os.getloadavg()
    encoder = load_encoder(args.encoder, device="cpu")
    tasks, seeds = resolve_tasks(args.tasks), parse_seeds(args.seeds)
    smiles = list(dict.fromkeys(
        s for t in tasks for part in ("train", "valid", "test")
        for s in load_task(t, seed=seeds[0], data_dir=args.data_dir).smiles(part)
    ))
    emb = embed_cached(encoder, smiles, on_invalid="mask", progress=False)  # cache check
    if emb.meta["cache"]["computed"]:
        raise SystemExit(f"{emb.meta['cache']['computed']} molecules were not cached for "
                         f"{args.encoder}; embed them first (this benchmark times probes only)")
    n_cells = len(tasks) * len(seeds)
    work = Path(tempfile.mkdtemp(prefix="ray_speedup_"))
    lines = []
    try:
        times, starts = {}, {}
        # in this process, through the executor interface (same cells, same order as no
        # executor at all), so that its cell phase is timed too
        times["local"] = run_sweep(encoder, args.tasks, args.seeds, work / "local", args.data_dir,
                                   LocalExecutor())
        for n in (1, 2):
            ray_tmp = Path(tempfile.mkdtemp(prefix="rs", dir="/tmp"))  # short: socket paths
            try:
                starts[n] = start_ray(n, ray_tmp)
                ex = RayExecutor()  # joins the instance just started
                times[f"ray{n}"] = run_sweep(encoder, args.tasks, args.seeds, work / f"ray{n}",
                                             args.data_dir, ex)
            finally:
                ray.shutdown()
            shutil.rmtree(ray_tmp, ignore_errors=True)  # kept when something failed
        identical = all(same_tables(work / "local", work / k) for k in ("ray1", "ray2"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    whole = {k: v[0] for k, v in times.items()}
    cells = {k: v[1] for k, v in times.items()}
    per_cell = {k: v[2] for k, v in times.items()}
    lines += [
        f"molstrata benchmarks/ray_speedup.py, {dt.datetime.now().isoformat(timespec='seconds')}",
        f"machine: {os.cpu_count()} CPUs; load average (1, 5, 15 min) before "
        f"{', '.join(f'{x:.2f}' for x in load_before)}, after "
        f"{', '.join(f'{x:.2f}' for x in load_after)} (the CPUs are shared with other jobs)",
        f"sweep: {encoder.name} (cached, {emb.n_layers} layers, dims {min(emb.dims)}-{max(emb.dims)}), "
        f"linear probe, {len(tasks)} tasks x {len(seeds)} seeds = {n_cells} cells "
        f"(task, seed) x {emb.n_layers} layers; {len(smiles)} molecules",
        f"tasks: {', '.join(tasks)}; seeds: {', '.join(map(str, seeds))}",
        "",
        "wall times: 'whole sweep' = sweep() from start to tables written (loading the",
        "splits and reading + checksumming the cached embeddings, serial, are in it);",
        "'executor' = the executor's two maps: the probe cells, then the selection jobs",
        "(the default ensemble strategy's scaffold CV, one job per (task, seed)); Ray:",
        "embeddings into the object store, dispatch, fits, results back, files written",
        "by the driver",
        "",
        f"{'run':<32}{'whole sweep':>14}{'executor':>12}",
        *(f"{label:<32}{whole[k]:>12.1f} s{cells[k]:>10.1f} s" for k, label in (
            ("local", "local (in-process, 1 thread)"), ("ray1", "ray, 1 worker (num_cpus=1)"),
            ("ray2", "ray, 2 workers (num_cpus=2)"))),
        "",
        f"speedup, 2 vs 1 Ray workers: executor {cells['ray1'] / cells['ray2']:.2f}x, whole sweep "
        f"{whole['ray1'] / whole['ray2']:.2f}x (target >= 1.6x)",
        f"Ray overhead vs local (1 worker vs in-process): executor "
        f"{100 * (cells['ray1'] / cells['local'] - 1):+.1f}%, whole sweep "
        f"{100 * (whole['ray1'] / whole['local'] - 1):+.1f}% (target <= 10%)",
        "",
        "inside the probe cells (summed over cells; from the cell function itself): wall time, CPU",
        "time of the cell's thread (the fits) and of its whole process (adds Ray's threads)",
        f"{'run':<32}{'cells':>6}{'workers':>8}{'wall':>10}{'fit CPU':>10}{'proc CPU':>10}",
        *(f"{label:<32}{per_cell[k]['n']:>6}{per_cell[k]['workers']:>8}"
          f"{per_cell[k]['wall']:>8.1f} s{per_cell[k]['thread_cpu']:>8.1f} s"
          f"{per_cell[k]['process_cpu']:>8.1f} s" for k, label in (
            ("local", "local"), ("ray1", "ray, 1 worker"), ("ray2", "ray, 2 workers"))),
        "(wall / fit CPU above 1: the cells waited for a CPU, i.e. other jobs were running)",
        "",
        f"tables (probe_results, summary, leaderboard, predictions) byte-identical across the "
        f"three runs: {'yes' if identical else 'NO'}",
        f"Ray start-up, not in the times above: {starts[1]:.1f} s (1 CPU), {starts[2]:.1f} s "
        "(2 CPUs), workers warmed",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
