"""What byte-identical embeddings cost: the old padded batches against same-size batches,
side by side in one run (issue 17 §4).

Old plan (molstrata <= fc58f6f): molecules sorted by token count and cut into batches filled
up to the token budget, padded to the longest in the batch; a molecule's vector then moved
by up to ~1e-6 with its batch companions. New plan
(:func:`molstrata.encoders.flow.iter_batches`): a batch holds molecules of one token
count only (no padding), a lone molecule runs as two copies. Both embed the same molecules
with the built-in ``molstrata-smiles`` encoder, interleaved ``--repeats`` times, minimum
kept; the script also reports how many molecules change bytes when embedded alone.

Usage::

    MOLSTRATA_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python benchmarks/embed_determinism.py \
        --task caco2_wang --n 900
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _old_batches(encoder, smiles):
    """The old plan: stable sort by size, fill up to the token budget with padding."""
    sizes = encoder._sizes(list(smiles))
    order = np.argsort(sizes, kind="stable")
    s_in = sizes[order]
    start, cap, budget = 0, encoder.max_batch_size, encoder.token_budget
    while start < len(order):
        n = min(cap, len(order) - start)
        padded = np.maximum.accumulate(np.maximum(s_in[start:start + n], 1)) * np.arange(1, n + 1)
        take = max(int(np.searchsorted(padded, budget, side="right")), 1)
        yield order[start:start + take]
        start += take


def embed_old(encoder, smiles):
    import torch

    from molstrata.encoders.flow import pool_states

    out = None
    for rows in _old_batches(encoder, smiles):
        with torch.inference_mode():
            pooled = pool_states(encoder._forward([smiles[i] for i in rows]), "mean")
        if out is None:
            out = [np.empty((len(smiles), p.shape[1]), np.float32) for p in pooled]
        for k, p in enumerate(pooled):
            out[k][rows] = p
    return out


def embed_new(encoder, smiles):
    from molstrata.encoders.flow import embed_canonical

    return embed_canonical(encoder, smiles, pooling="mean", advance=lambda n: None)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="caco2_wang")
    ap.add_argument("--n", type=int, default=900)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--n-alone", type=int, default=100, help="molecules also embedded one by one")
    args = ap.parse_args()

    import pandas as pd
    import torch

    from molstrata import load_encoder
    from molstrata.data.smiles import parse_smiles

    root = os.environ.get("MOLSTRATA_DATA_DIR", "../shared/data")
    frame = pd.read_csv(f"{root}/admet_group/{args.task}/train_val.csv")
    smiles = list(parse_smiles(frame["Drug"].tolist()[: args.n]).canonical)
    encoder = load_encoder("default", device="cpu")
    times = {"old (padded)": [], "new (same size)": []}
    results = {}
    for _ in range(args.repeats):
        for name, fn in (("old (padded)", embed_old), ("new (same size)", embed_new)):
            t0 = time.perf_counter()
            results[name] = fn(encoder, smiles)
            times[name].append(time.perf_counter() - t0)
    print(f"{len(smiles)} molecules of {args.task}, {torch.get_num_threads()} thread(s), "
          f"min of {args.repeats}")
    for name, t in times.items():
        print(f"  {name:16s} {min(t):7.2f} s   {len(smiles) / min(t):7.1f} molecules/s")
    old, new = min(times["old (padded)"]), min(times["new (same size)"])
    print(f"  new / old throughput: {old / new:.3f}")
    m = min(args.n_alone, len(smiles))
    for name, fn in (("old (padded)", embed_old), ("new (same size)", embed_new)):
        alone = [np.concatenate([fn(encoder, [s])[k] for s in smiles[:m]]) for k in range(len(results[name]))]
        same = np.all([np.all(a == r[:m], axis=1) for a, r in zip(alone, results[name], strict=True)], axis=0)
        print(f"  {name:16s} molecules whose bytes change when embedded alone: {int((~same).sum())}/{m}")


if __name__ == "__main__":
    main()
