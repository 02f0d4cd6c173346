"""Cost of one finetuning epoch vs truncation depth for a registered encoder (issue 23).

Loads ``--encoder`` (real weights: ``minimol``, ``molstrata-graph``...), truncates it
physically at each depth of ``--depths`` (:func:`molstrata.finetune.build_model`) and trains
one epoch with :func:`molstrata.finetune.fit` on the train split of seed 1 of ``--task``
(the epoch includes the validation pass), as ``molstrata finetune`` does. Prints process CPU
seconds and wall seconds per epoch (min over ``--repeats``), trainable parameters and the
load average (the box may be shared), and optionally writes them as JSON.

    OMP_NUM_THREADS=1 python benchmarks/finetune_real_cost.py --encoder minimol \
        --depths 4,8,12,16 --task hia_hou --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="minimol")
    ap.add_argument("--depths", default="4,8,12,16", help="comma-separated depths")
    ap.add_argument("--task", default="hia_hou")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1, help="epochs timed per depth (min is kept)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()

    import torch

    from molstrata.data import load_task
    from molstrata.encoders import load_encoder
    from molstrata.finetune import Dataset, TargetScaler, TrainConfig, build_model, fit
    from molstrata.finetune.sweep import frame_dataset

    torch.set_num_threads(args.threads)
    split = load_task(args.task, seed=1)
    (train, _), (valid, _) = (frame_dataset(split.train, "train", args.task),
                              frame_dataset(split.valid, "valid", args.task))
    scaler = TargetScaler.fit(train.y, split.task_type)
    full = load_encoder(args.encoder, device=args.device)
    depths = [int(x) for x in args.depths.split(",")]
    cfg = TrainConfig(lr=1e-4, epochs=1, batch_size=args.batch_size)
    fit(build_model(full, depths[0]), Dataset(train.smiles[:64], train.y[:64]), valid,
        task_type=split.task_type, metric=split.metric, config=cfg, scaler=scaler)  # warm-up
    rows = []
    for k in depths:
        cpu, wall = [], []
        for _ in range(args.repeats):
            torch.manual_seed(0)
            model = build_model(full, k)
            load = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            fit(model, train, valid, task_type=split.task_type, metric=split.metric,
                config=cfg, scaler=scaler)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        rows.append({"depth": k, "cpu_s": min(cpu), "wall_s": min(wall), "load1": load,
                     "parameters": model.n_parameters()})
        print(f"{args.encoder} k={k}: cpu {min(cpu):.2f} s, wall {min(wall):.2f} s, "
              f"params {rows[-1]['parameters']:,}, load {load:.2f}", flush=True)
    print(f"task {args.task}: {len(train)} train / {len(valid)} valid molecules, batch "
          f"{args.batch_size}, {args.threads} thread(s), device {args.device}")
    if args.json:
        Path(args.json).write_text(json.dumps({"encoder": args.encoder, "task": args.task,
                                               "threads": args.threads, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
