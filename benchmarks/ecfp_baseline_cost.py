"""Benchmark: where the ECFP4 baseline's time goes (``molstrata probe --baseline ecfp``, the
CLI default), and what the shared baseline cells save.

Per run of :func:`molstrata.runs._baseline.sweep_baseline` on the given tasks and seeds:

* ``featurize``: Morgan/ECFP4 counts (2048 bits) of every molecule of the splits, once;
* ``probe``: the run's linear probe on the counts, per (task, seed) (train fit, valid tuning,
  test predictions);
* ``cold``: the whole baseline phase into a fresh run folder with an empty cache folder;
* ``warm``: the same into another fresh run folder, the cache folder kept (the cells are read
  back: no fingerprint, no fit); the two ``baseline.csv`` files are compared byte for byte.

Usage::

    MOLSTRATA_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python benchmarks/ecfp_baseline_cost.py \
        --tasks hia_hou,bioavailability_ma,caco2_wang --seeds 1,2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="hia_hou,bioavailability_ma,caco2_wang")
    ap.add_argument("--seeds", default="1,2")
    args = ap.parse_args()
    from molstrata.core.threads import fixed_threads
    from molstrata.encoders.fingerprint import ecfp_counts
    from molstrata.probe._probe import fit_layers, prepare
    from molstrata.runs._baseline import sweep_baseline
    from molstrata.runs._record import split_inputs
    from molstrata.runs._tasks import load_split

    tasks, seeds = args.tasks.split(","), [int(s) for s in args.seeds.split(",")]
    jobs = [(t, s) for t in tasks for s in seeds]
    splits = {job: load_split(job[0], job[1], None).check_labels() for job in jobs}
    smiles = list(dict.fromkeys(x for sp in splits.values() for p in ("train", "valid", "test")
                                for x in sp.smiles(p)))
    t0 = time.perf_counter()
    emb = ecfp_counts(smiles)
    print(f"featurize: {len(smiles)} molecules in {time.perf_counter() - t0:.2f} s")
    index = {s: i for i, s in enumerate(emb.smiles)}
    total = 0.0
    for (task, seed), sp in splits.items():
        t0 = time.perf_counter()
        with fixed_threads():
            fit_layers(prepare(emb, sp, index=index), model="linear", task_type=sp.task_type,
                       metric=sp.metric, seed=seed)
        took = time.perf_counter() - t0
        total += took
        print(f"probe {task} seed {seed} ({len(sp.smiles('train'))} train rows, {sp.task_type}): {took:.2f} s")
    print(f"probe, all {len(jobs)} jobs: {total:.2f} s")
    inputs: dict[str, str] = {}
    for sp in splits.values():
        inputs.update(split_inputs(sp, None))
    settings = {"probe": "linear", "pooling": None, "params": {}}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MOLSTRATA_CACHE_DIR"] = str(Path(tmp) / "cache")
        took = []
        for name in ("cold", "warm"):
            out = Path(tmp) / name
            out.mkdir()
            t0 = time.perf_counter()
            sweep_baseline(out, jobs=jobs, splits=splits, model="linear", params=None,
                           cell_settings=settings, inputs=inputs)
            took.append(time.perf_counter() - t0)
        same = (Path(tmp) / "cold" / "baseline.csv").read_bytes() == (Path(tmp) / "warm" / "baseline.csv").read_bytes()
    print(f"baseline phase: cold {took[0]:.2f} s, warm (shared cells) {took[1]:.2f} s; "
          f"baseline.csv byte-identical: {same}")


if __name__ == "__main__":
    main()
