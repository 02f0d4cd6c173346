"""A probe run's per-seed table in the shipped form: ``selection_seeds.csv`` with the
validation scores beside the test scores (runs written before they were recorded), plus
``valid`` rows (the layer best on validation per seed, molstrata's rule) when the run did
not ask for that strategy. Scores are read from the run's tables, never recomputed::

    python benchmarks/seed_table.py --run runs/default_sel --out benchmarks/results/selection_seeds_smiles_stage4.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from molstrata.probe.outputs import SEEDS_COLUMNS
from molstrata.probe.selection import select_layer


def _layers(run: Path) -> dict[tuple[str, str, int, str], np.ndarray]:
    """(encoder, task, seed, split) -> scores of layers 0..L-1 from ``probe_results.csv``."""
    res = pd.read_csv(run / "probe_results.csv").sort_values("layer")
    return {(str(e), t, int(s), sp): g["score"].to_numpy(float)
            for (e, t, s, sp), g in res.groupby(["encoder", "task", "seed", "split"], sort=False)}


def _valid_rows(layers: dict, metrics: dict[str, str]) -> pd.DataFrame:
    rows = []
    for (enc, task, seed, split), valid in layers.items():
        if split != "valid":
            continue
        test = layers[(enc, task, seed, "test")]
        k = select_layer(valid, metrics[task])
        rows.append({"encoder": enc, "task": task, "metric": metrics[task], "seed": seed, "strategy": "valid",
                     "choice": str(k), "test_score": test[k], "final_test_score": test[-1],
                     "weights": ";".join("1" if j == k else "0" for j in range(valid.size)), "info": "{}"})
    return pd.DataFrame(rows)


def seed_table(run: Path) -> pd.DataFrame:
    """``run``'s per-seed rows in :data:`~molstrata.probe.outputs.SEEDS_COLUMNS` order."""
    seeds = pd.read_csv(run / "selection_seeds.csv")
    seeds["encoder"] = seeds["encoder"].astype(str)
    layers = _layers(run)
    metrics = dict(zip(seeds["task"], seeds["metric"], strict=False))
    if "valid" not in set(seeds["strategy"]):
        seeds = pd.concat([_valid_rows(layers, metrics), seeds], ignore_index=True)
    if "valid_score" not in seeds:
        vs, fvs = [], []
        for r in seeds.itertuples(index=False):
            valid = layers[(r.encoder, r.task, int(r.seed), "valid")]
            w = np.array([float(x) for x in str(r.weights).split(";")])
            one = np.flatnonzero(w)
            vs.append(float(valid[one[0]]) if one.size == 1 and w.size == valid.size else np.nan)
            fvs.append(float(valid[-1]))
        seeds["valid_score"], seeds["final_valid_score"] = vs, fvs
    order = {n: i for i, n in enumerate(dict.fromkeys(seeds["strategy"]))}
    seeds = seeds.sort_values(["encoder", "task", "seed", "strategy"], key=lambda c: c.map(order) if c.name == "strategy" else c,
                              kind="stable")
    return seeds[SEEDS_COLUMNS].reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a molstrata probe run folder")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    table = seed_table(args.run)
    table.to_csv(args.out, index=False)
    print(f"{args.out}: {len(table)} rows, strategies {', '.join(dict.fromkeys(table['strategy']))}")


if __name__ == "__main__":
    main()
