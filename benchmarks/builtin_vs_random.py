"""Are the built-in encoders genuinely pretrained? Linear probes vs their random-init twins.

For each built-in model and each TDC ADMET task (official split, seed 1 by default): embed
every molecule with the pretrained model and with its ``random_init`` twin (same
architecture, seeded fresh weights), fit the closed-form linear probe of
:mod:`molstrata.probe` (ridge / logistic, regularisation chosen on the validation split) on
every layer, take the pretrained model's best-validation layer L, and compare the test score
of the pretrained model at L with the random twin's test score at the same L. A task is a
win when the pretrained score is better (lower MAE, higher Spearman/AUROC/AUPRC).

The table also has a validation-only view (``valid_win``: each model's best validation score
over its layers): use that one while developing a pretraining recipe, so that the test
split is looked at once, for the final check.

Embeddings go through ``molstrata.embeddings.embed_cached`` so the probes reuse them.

Usage::

    python benchmarks/builtin_vs_random.py                       # both models, all 22 tasks
    python benchmarks/builtin_vs_random.py --models molstrata-graph --tasks caco2_wang,herg
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd


def compare(model_name: str, tasks: list[str], *, seed: int, init_seed: int, data_dir: str | None,
            device: str | None, folder: str | None = None) -> pd.DataFrame:
    """One row per task: metric, pretrained layer L, pretrained and random test scores at L.
    ``folder``: candidate weights of the SMILES model (an exported MLM folder), checked under
    the built-in's name before they replace the shipped ones."""
    from molstrata.data import load_task
    from molstrata.embeddings import embed_cached
    from molstrata.encoders import load_encoder
    from molstrata.encoders.smiles.hf import load_hf
    from molstrata.probe import probe
    from molstrata.probe.scoring import greater_is_better

    if folder:
        pre = load_hf(folder, name=model_name, device=device)
        rnd = load_hf(folder, name=model_name, device=device, random_init=True, seed=init_seed)
    else:
        pre = load_encoder(model_name, device=device)
        rnd = load_encoder(model_name, device=device, random_init=True, seed=init_seed)
    rows = []
    for task in tasks:
        t0 = time.monotonic()
        split = load_task(task, seed=seed, data_dir=data_dir)
        smiles = [*split.smiles("train"), *split.smiles("valid"), *split.smiles("test")]
        s_pre = probe(embed_cached(pre, smiles, on_invalid="mask"), split, model="linear")
        s_rnd = probe(embed_cached(rnd, smiles, on_invalid="mask"), split, model="linear")
        layer = s_pre.selected_layer
        a, b = float(s_pre.test_scores[layer]), float(s_rnd.test_scores[layer])
        up = greater_is_better(split.metric)
        better = a > b if up else a < b
        # validation-only view (for developing recipes without looking at test): each model's
        # best validation score over its layers
        va, vb = float(s_pre.valid_scores[layer]), float(s_rnd.valid_scores[s_rnd.selected_layer])
        rows.append({"model": model_name, "task": task, "metric": split.metric, "layer": layer,
                     "pretrained": a, "random_init": b, "win": bool(better),
                     "pretrained_valid": va, "random_valid": vb,
                     "valid_win": bool(va > vb if up else va < vb),
                     "random_best_valid_layer": s_rnd.selected_layer,
                     "random_at_own_layer": float(s_rnd.selected_test_score),
                     "seconds": round(time.monotonic() - t0, 1)})
        r = rows[-1]
        print(f"{model_name:18s} {task:34s} {r['metric']:9s} L={layer}  pretrained {a:.3f}  "
              f"random {b:.3f}  {'WIN' if better else 'loss'}", flush=True)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    from molstrata.data import list_tasks

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="molstrata-smiles,molstrata-graph")
    ap.add_argument("--tasks", default="all", help="'all' (22 TDC ADMET tasks) or a comma list")
    ap.add_argument("--seed", type=int, default=1, help="TDC split seed (official: 1..5)")
    ap.add_argument("--init-seed", type=int, default=0, help="seed of the random_init twin")
    ap.add_argument("--data-dir", default=None, help="TDC data folder (default MOLSTRATA_DATA_DIR)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--folder", default=None,
                    help="candidate weights (exported MLM folder) for the one SMILES model in --models")
    ap.add_argument("--out", default="benchmarks/results/builtin_vs_random.csv")
    args = ap.parse_args(argv)

    tasks = list_tasks("admet") if args.tasks == "all" else [t.strip() for t in args.tasks.split(",")]
    frames = [compare(m.strip(), tasks, seed=args.seed, init_seed=args.init_seed,
                      data_dir=args.data_dir, device=args.device, folder=args.folder)
              for m in args.models.split(",")]
    table = pd.concat(frames, ignore_index=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print()
    print(table[["model", "task", "metric", "layer", "pretrained", "random_init", "win"]]
          .to_markdown(index=False, floatfmt=".3f"))
    for model, sub in table.groupby("model"):
        print(f"{model}: pretrained beats random_init on {int(sub['win'].sum())} of {len(sub)} tasks "
              f"(test, at the pretrained best-valid layer); on validation (each at its best layer): "
              f"{int(sub['valid_win'].sum())} of {len(sub)}")
    print(f"table written to {out}")


if __name__ == "__main__":
    main()
