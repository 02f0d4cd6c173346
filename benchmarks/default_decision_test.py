"""The test split of the ``default`` decision: an afterthought, never used to decide.

Run only after ``default_decision.py decide`` has printed (and the repository recorded) the
decision. For every cell of the validation table (model, variant, task, seed) it refits the
linear probe on train (regularisation on valid) at the cell's ``best_layer`` (chosen on
valid), scores the TDC test split once, and counts, with the decision rule's arithmetic (mean
over seeds, twins averaged), how the test split would have answered (a) and (b).

Usage::

    python benchmarks/default_decision_test.py --work W     # resumable; cells under W/cells_test
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import default_decision as dd  # noqa: E402


def test_cell(emb, split, layer: int) -> float:
    """Test score of the linear probe fit on train (tuned on valid) at ``layer``.

    ``emb``: LayerEmbeddings holding every molecule of ``split``.
    """
    from molstrata.data import evaluate
    from molstrata.probe._probe import fit_layers, prepare

    data = prepare(emb, split)
    cells = fit_layers(data, model="linear", task_type=split.task_type, metric=split.metric,
                       seed=int(split.seed), layers=[layer])
    return float(evaluate(split.metric, split.y("test"), cells[layer].test_pred))


def run(valid: pd.DataFrame, data_dir: str | None, cells_dir: Path) -> pd.DataFrame:
    """One JSON per cell of ``valid`` under ``cells_dir`` (skipped when present); the table."""
    from molstrata.data import load_task
    from molstrata.embeddings import embed_cached

    cells_dir.mkdir(parents=True, exist_ok=True)
    for (model, variant, task), sub in valid.groupby(["model", "variant", "task"], sort=True):
        todo = [r for r in sub.itertuples() if not (cells_dir / f"{model}__{variant}__{task}__s{r.seed}.json").exists()]
        if not todo:
            continue
        t0 = time.monotonic()
        init = None if pd.isna(todo[0].init_seed) else int(todo[0].init_seed)
        enc = dd.encoder(model, init)
        emb = None
        for r in todo:
            split = load_task(task, seed=int(r.seed), data_dir=data_dir)
            if emb is None:
                smiles = [*split.smiles("train"), *split.smiles("valid"), *split.smiles("test")]
                emb = embed_cached(enc, smiles, on_invalid="mask", progress=False)
            cell = {"model": model, "variant": variant, "init_seed": init, "task": task, "metric": r.metric,
                    "seed": int(r.seed), "best_layer": int(r.best_layer),
                    "valid_score": float(r.valid_score), "test_score": test_cell(emb, split, int(r.best_layer))}
            path = cells_dir / f"{model}__{variant}__{task}__s{r.seed}.json"
            path.with_suffix(".tmp").write_text(json.dumps(cell, sort_keys=True))
            path.with_suffix(".tmp").replace(path)
        print(f"tested {model} {variant} {task} ({time.monotonic() - t0:.0f} s)", flush=True)
    cells = [json.loads(p.read_text()) for p in sorted(cells_dir.glob("*.json"))]
    out = pd.DataFrame(cells, columns=[*dd.COLUMNS[:-2], "test_score"])
    out["init_seed"] = out["init_seed"].astype("Int64")
    return out.sort_values(["model", "variant", "task", "seed"], kind="stable").reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="runs/default_decision")
    ap.add_argument("--data-dir", default=None, help="TDC data folder (default MOLSTRATA_DATA_DIR)")
    ap.add_argument("--valid", default="benchmarks/results/default_decision_valid.csv")
    ap.add_argument("--out", default="benchmarks/results/default_decision_test_afterthought.csv")
    ap.add_argument("--summary", default="benchmarks/results/default_decision_test_afterthought.txt")
    args = ap.parse_args(argv)
    valid = pd.read_csv(args.valid, dtype={"init_seed": "Int64"})
    table = run(valid, args.data_dir, Path(args.work) / "cells_test")
    table.to_csv(args.out, index=False)
    # the rule's arithmetic on test scores, for the record only
    as_valid = table.drop(columns=["valid_score"]).rename(columns={"test_score": "valid_score"})
    result = dd.decide(as_valid)
    text = ("AFTERTHOUGHT, NOT USED: the decision was made on validation (default_decision.txt).\n"
            "Below, the same arithmetic on the TEST split (each cell at its validation-chosen layer).\n\n"
            + dd.summary(as_valid, result).replace("default = ", "test would have picked: ")
            .replace("(validation, mean", "(test, mean").replace("validation score", "test score"))
    Path(args.summary).write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
