"""Benchmark: the cost of choosing the layer by cross-validation vs on the validation split.

Measured side by side on the same embeddings, per (task, seed):

* ``valid``: what ``molstrata probe`` does today: fit every layer's probe on train, tune it on
  valid (:func:`molstrata.probe._probe.fit_layers`); choosing the layer is then free;
* ``cv``: the extra work of ``--selection cv`` / ``cv-1se`` / ``ensemble`` (they share it):
  scaffold groups and folds, and the nested scaffold-grouped CV of every layer inside
  ``train_val`` (:func:`molstrata.probe.cv.cross_validate`, as
  :func:`molstrata.probe.strategies.choose` runs it: ridge CV for classification, every other
  grid point);
* ``concat``: the extra work of ``--selection concat`` (CV of the top-m concatenations and
  the refit of the chosen one);
* ``mix``: the extra work of ``--selection mix`` (the alternating scalar-mix fit).

Default: cached MiniMol embeddings (``--encoder minimol``; every ADMET molecule is in the
cache) on a few tasks of different sizes and types, one seed. The embeddings are read once
(timed apart). Prints one table and the ratios; ``--json FILE`` also writes the numbers.

Usage::

    MOLSTRATA_DATA_DIR=../shared/data python benchmarks/selection_cost.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

TASKS = "hia_hou,caco2_wang,herg,ppbr_az,ames,solubility_aqsoldb,cyp2c9_veith"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--encoder", default="minimol")
    ap.add_argument("--tasks", default=TASKS, help="comma list, or 'admet' for all 22")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--cv-folds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma list of parts not to time: concat, mix")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from molstrata.data import load_task
    from molstrata.embeddings import embed_cached
    from molstrata.encoders import load_encoder
    from molstrata.probe._probe import fit_layers, prepare
    from molstrata.probe.strategies import choose
    from molstrata.runs.probe import resolve_tasks

    tasks = resolve_tasks(args.tasks)
    seeds = [int(s) for s in args.seeds.split(",")]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    splits = {(t, s): load_task(t, seed=s) for t in tasks for s in seeds}
    smiles = list(dict.fromkeys(x for sp in splits.values() for p in ("train", "valid", "test") for x in sp.smiles(p)))
    t0 = time.perf_counter()
    enc = load_encoder(args.encoder, device="cpu")
    emb = embed_cached(enc, smiles, on_invalid="mask", progress=False)
    t_embed = time.perf_counter() - t0
    index = {s: i for i, s in enumerate(emb.smiles)}
    print(f"{enc.name}: {emb.n_layers} layers, widths {sorted(set(emb.dims))}; {len(smiles)} molecules "
          f"read from the cache in {t_embed:.1f} s; {args.threads} thread(s)")
    rows = []
    header = f"{'task':28s} {'seed':>4s} {'n_trval':>7s} {'valid s':>8s} {'cv s':>8s} {'cv/valid':>8s}"
    header += "" if "concat" in skip else f" {'concat s':>9s}"
    header += "" if "mix" in skip else f" {'mix s':>7s}"
    print(header)
    for (t, s), split in splits.items():
        data = prepare(emb, split, index=index)
        t0 = time.perf_counter()
        cells = fit_layers(data, model="linear", task_type=split.task_type, metric=split.metric, seed=s)
        t_valid = time.perf_counter() - t0
        n_tv = int(data.y_train.size + data.y_valid.size)
        with tempfile.TemporaryDirectory() as tmp:
            # exactly what the sweep runs per (task, seed), each part timed on its own: the CV
            # (scaffolds, folds, the nested CV of every layer), then concat and mix, which
            # read the CV back from the cache the first call wrote
            t0 = time.perf_counter()
            choose(data, cells, selections=["cv"], task_type=split.task_type, metric=split.metric,
                   seed=s, cv_folds=args.cv_folds, cache_dir=tmp)
            t_cv = time.perf_counter() - t0
            row = {"task": t, "seed": s, "n_trval": n_tv, "valid_s": t_valid, "cv_s": t_cv}
            line = f"{t:28s} {s:4d} {n_tv:7d} {t_valid:8.2f} {t_cv:8.2f} {t_cv / t_valid:8.2f}"
            for part in ("concat", "mix"):
                if part in skip:
                    continue
                t0 = time.perf_counter()
                choose(data, cells, selections=[part], task_type=split.task_type, metric=split.metric,
                       seed=s, cv_folds=args.cv_folds, cache_dir=tmp)
                row[f"{part}_s"] = time.perf_counter() - t0
                line += f" {row[f'{part}_s']:9.2f}" if part == "concat" else f" {row[f'{part}_s']:7.2f}"
        print(line, flush=True)
        rows.append(row)
    tot = {k: sum(r[k] for r in rows) for k in rows[0] if k.endswith("_s")}
    print(f"{'total':28s} {'':4s} {'':7s} {tot['valid_s']:8.2f} {tot['cv_s']:8.2f} "
          f"{tot['cv_s'] / tot['valid_s']:8.2f}"
          + ("" if "concat" in skip else f" {tot['concat_s']:9.2f}")
          + ("" if "mix" in skip else f" {tot['mix_s']:7.2f}"))
    print(f"cv selection costs {tot['cv_s'] / tot['valid_s']:.2f}x the valid-selected sweep's fits "
          f"(k = {args.cv_folds}); with concat and mix: "
          f"{sum(tot.values()) / tot['valid_s']:.2f}x in all")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"encoder": enc.name, "threads": args.threads, "cv_folds": args.cv_folds,
                       "rows": rows, "total": tot}, fh, indent=2)


if __name__ == "__main__":
    main()
