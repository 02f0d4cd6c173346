"""Cost of finetuning vs truncation depth k (issue 6 benchmark).

A 6-layer, 256-wide RoBERTa (random init; cost does not depend on the weights) with the
atom-level regex SMILES tokenizer, loaded through the HF adapter, is truncated at every depth
k = 1..6 and trained for one epoch with :func:`molstrata.finetune.fit` on a small TDC task
(train split of seed 1; the epoch includes the validation pass). Reports process CPU
seconds per epoch (single thread: robust to other jobs on a shared box; wall time too),
its ratio to the full model, trainable parameters, and a least-squares line through the
times. Target: ≈ linear in k, and k = L/2 costs ≤ 0.6× the full model.

    nice -n 5 python benchmarks/finetune_cost.py --task caco2_wang --threads 1 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def build_model_dir(folder: Path, smiles: list[str], layers: int, hidden: int) -> Path:
    import torch
    from transformers import RobertaConfig, RobertaModel

    from molstrata.pretrain.tokenizer import build_smiles_tokenizer

    tok = build_smiles_tokenizer(smiles, model_max_length=128)
    torch.manual_seed(0)
    cfg = RobertaConfig(
        vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64), intermediate_size=4 * hidden,
        max_position_embeddings=130, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )
    RobertaModel(cfg, add_pooling_layer=False).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="caco2_wang")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2, help="epochs timed per depth (min is kept)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()

    import torch

    from molstrata.data import load_task
    from molstrata.encoders import load_encoder
    from molstrata.finetune import Dataset, TargetScaler, TrainConfig, build_model, fit
    from molstrata.finetune.sweep import frame_dataset

    torch.set_num_threads(args.threads)
    split = load_task(args.task, seed=1, data_dir=args.data_dir)
    (train, _), (valid, _) = (frame_dataset(split.train, "train", args.task),
                              frame_dataset(split.valid, "valid", args.task))
    scaler = TargetScaler.fit(train.y, split.task_type)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_model_dir(Path(tmp), list(train.smiles) + list(valid.smiles), args.layers, args.hidden)
        full = load_encoder(str(folder), device="cpu")
        cfg = TrainConfig(lr=5e-5, epochs=1, batch_size=args.batch_size)
        # warm-up (allocator, lazy imports) on the shallowest model, not timed
        fit(build_model(full, 1), Dataset(train.smiles[:64], train.y[:64]), valid,
            task_type=split.task_type, metric=split.metric, config=cfg, scaler=scaler)
        wall = {k: [] for k in range(1, args.layers + 1)}
        cpu = {k: [] for k in range(1, args.layers + 1)}
        params = {}
        for rep in range(args.repeats):  # depths interleaved, so load drifts hit all alike
            for k in range(1, args.layers + 1):
                torch.manual_seed(0)
                model = build_model(full, k)
                t0, c0 = time.perf_counter(), time.process_time()
                fit(model, train, valid, task_type=split.task_type, metric=split.metric,
                    config=cfg, scaler=scaler)
                wall[k].append(time.perf_counter() - t0)
                cpu[k].append(time.process_time() - c0)
                params[k] = model.n_parameters()
                print(f"repeat {rep} k={k}: wall {wall[k][-1]:.2f} s, cpu {cpu[k][-1]:.2f} s",
                      flush=True)
        rows = [{"k": k, "seconds_per_epoch": min(cpu[k]), "cpu_times": cpu[k],
                 "wall_times": wall[k], "wall_min": min(wall[k]), "parameters": params[k]}
                for k in wall]

    t = np.array([r["seconds_per_epoch"] for r in rows])
    ks = np.arange(1, args.layers + 1)
    slope, intercept = np.polyfit(ks, t, 1)
    fitted = slope * ks + intercept
    r2 = 1 - ((t - fitted) ** 2).sum() / ((t - t.mean()) ** 2).sum()
    half = args.layers // 2
    print()
    print(f"task {args.task}: {len(train)} train / {len(valid)} valid molecules, batch {args.batch_size}, "
          f"{args.threads} thread(s), {args.layers}x{args.hidden} RoBERTa")
    print("| k | CPU s/epoch | × full | wall s/epoch (min) | params | × full |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['k']} | {r['seconds_per_epoch']:.2f} | {r['seconds_per_epoch'] / t[-1]:.2f} | "
              f"{r['wall_min']:.2f} | {r['parameters']:,} | {r['parameters'] / rows[-1]['parameters']:.2f} |")
    print(f"linear fit: {slope:.3f} s per block + {intercept:.3f} s fixed, R² = {r2:.4f}")
    print(f"k = L/2 = {half}: {t[half - 1] / t[-1]:.2f}× the full model (target ≤ 0.60)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "task": args.task, "rows": rows, "slope": slope, "intercept": intercept, "r2": r2,
            "half_ratio": float(t[half - 1] / t[-1]), "threads": args.threads,
        }, indent=2))


if __name__ == "__main__":
    main()
