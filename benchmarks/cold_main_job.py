"""The cold README main job against the bare forward pass over the same molecules (issue #22).

Two child processes, run one after the other in this one invocation, each timed for wall
time and CPU time (user + system of the child, from ``resource.getrusage``):

forward    the floor: load the encoder, then run it over every unique molecule of the
           tasks (length-bucketed batches of ``--batch-size``): a transformer tokenises and
           keeps only the last hidden state; a graph network featurises and runs its own
           ``_forward`` (whose one pass gives every layer). No pooling, no cache, no probes.
           The child also reports the time of the forward loop alone.
main_job   ``molstrata -q probe --encoder ENC --tasks TASKS --seeds SEEDS --probe linear``
           into an empty cache folder and an empty run folder: start-up, data, embedding
           every layer, caching, the probes, selection, baseline (``--baseline``) and report.

It prints both and the ratios main_job / forward (the issue's goal: at most 1.3, wall).
On a shared machine use ``--threads 1`` and read the CPU ratio; give ``uptime`` beside it.

Usage::

    MOLSTRATA_DATA_DIR=../shared/data python benchmarks/cold_main_job.py --threads 1
    MOLSTRATA_DATA_DIR=../shared/data python benchmarks/cold_main_job.py --tasks hia_hou --seeds 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_FORWARD = r"""
import json, sys, time
import numpy as np
import torch
t_start = time.monotonic()
from molstrata.encoders import load_encoder
from molstrata.runs._tasks import load_split, resolve_tasks
encoder, tasks, seed, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
splits = [load_split(t, seed) for t in resolve_tasks(tasks)]
smiles = list(dict.fromkeys(x for sp in splits for part in ("train", "valid", "test")
                            for x in sp.smiles(part)))
enc = load_encoder(encoder)
if not hasattr(enc, "tokenizer"):  # a graph network: RDKit-valid ones only
    from rdkit import Chem, RDLogger
    RDLogger.DisableLog("rdApp.*")
    smiles = [s for s in smiles if Chem.MolFromSmiles(s) is not None]  # the job masks the rest
order = np.argsort([len(s) for s in smiles], kind="stable")
t0, c0 = time.monotonic(), time.process_time()
with torch.inference_mode():
    for start in range(0, len(order), batch_size):
        batch = [smiles[i] for i in order[start : start + batch_size]]
        if hasattr(enc, "tokenizer"):  # a transformer: tokenise + forward, last layer only
            x = enc.tokenizer(batch, padding=True, truncation=True, max_length=enc.max_length,
                              return_tensors="pt")
            enc.model(**x).last_hidden_state
        else:  # a graph network: its own featurise + forward (every layer is one pass anyway)
            enc._forward(batch)
print(json.dumps({"molecules": len(smiles), "loop_wall": time.monotonic() - t0,
                  "loop_cpu": time.process_time() - c0}))
"""


def _child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``cmd``; (wall s, CPU s of the child, its stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{cmd[:4]}... failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--encoder", default="default", help="encoder name (default: default)")
    ap.add_argument("--tasks", default="admet")
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--baseline", default="ecfp", help="ecfp (the CLI default) or none")
    ap.add_argument("--batch-size", type=int, default=64, help="molecules per forward batch")
    ap.add_argument("--threads", type=int, default=None, help="OMP/torch threads of both children")
    ap.add_argument("--keep", default=None, help="folder for the cache and run (default: a temp dir)")
    a = ap.parse_args()

    env = dict(os.environ)
    env.setdefault("MOLSTRATA_N_JOBS", "1")  # one process (RUSAGE_CHILDREN misses pool workers)
    if a.threads:
        env["OMP_NUM_THREADS"] = str(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        env["MOLSTRATA_CACHE_DIR"] = str(root / "cache")
        first_seed = a.seeds.replace("-", ",").split(",")[0]
        f_wall, f_cpu, out = _child([sys.executable, "-c", _FORWARD, a.encoder, a.tasks, first_seed,
                                     str(a.batch_size)], env)
        fwd = json.loads(out.strip().splitlines()[-1])
        m_wall, m_cpu, _ = _child([sys.executable, "-m", "molstrata.cli", "-q", "probe", "--encoder",
                                   a.encoder, "--tasks", a.tasks, "--seeds", a.seeds, "--probe", "linear",
                                   "--baseline", a.baseline, "--out", str(root / "run")], env)
    load = os.getloadavg()[0]
    print(f"molecules: {fwd['molecules']}  threads: {a.threads or 'default'}  "
          f"load average (1 min) at the end: {load:.1f}")
    print(f"forward   whole process {f_wall:7.1f} s wall {f_cpu:7.1f} s CPU; "
          f"the forward loop alone {fwd['loop_wall']:7.1f} s wall {fwd['loop_cpu']:7.1f} s CPU")
    pooled = env["MOLSTRATA_N_JOBS"] != "1"  # the pool's workers are not in RUSAGE_CHILDREN
    cpu_note = " (without the pool workers' CPU: not comparable)" if pooled else ""
    print(f"main_job  whole process {m_wall:7.1f} s wall {m_cpu:7.1f} s CPU{cpu_note} (--baseline {a.baseline})")
    cpu_ratio = "n/a with a pool" if pooled else f"{m_cpu / fwd['loop_cpu']:.2f}"
    print(f"ratio main_job / forward loop: {m_wall / fwd['loop_wall']:.2f} wall, "
          f"{cpu_ratio} CPU (goal: at most 1.3, wall)")


if __name__ == "__main__":
    main()
