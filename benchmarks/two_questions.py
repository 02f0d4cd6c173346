"""Issue 21's two questions, answered apart, from shipped per-seed tables.

(a) Does **one** intermediate layer, chosen honestly (without the test set), beat the final
    layer? The single-layer strategies: ``valid`` (the layer best on the seed's validation
    split) and ``cv`` / ``cv-1se`` (the layer best in a scaffold-grouped CV inside
    ``train_val``). This is the paper's claim.
(b) Does **combining** layers beat the final layer? The combining strategies: ``ensemble``
    (CV-weighted average of every layer's probe), ``concat`` (top-m layers concatenated) and
    ``mix`` (a learned scalar mix). The final-layer side is the linear probe (the strongest
    final-layer head of issue 21 items 1-3 is compared where its table is given).

Which strategies are single-layer is read from the code (``molstrata.probe.strategies``:
their ``Choice`` puts all weight on one layer) and checked on the rows: every ``valid``/``cv``
row's weights are one-hot.

Input: ``selection_seeds_<name>.csv`` tables (one row per encoder, task, seed and strategy:
``test_score`` and ``final_test_score``). Output: one row per encoder, strategy and task set
(all tasks; without the Spearman tasks) with the mean Δ% over tasks, its 95% Student-t
interval over tasks, the median, the tasks better / worse, the tasks whose paired 95%
interval over seeds lies above / below 0, and the two-sided Wilcoxon signed-rank test
(:mod:`molstrata.report.stats`)::

    python benchmarks/two_questions.py \\
        --table molstrata-smiles=benchmarks/results/selection_seeds_smiles_stage4.csv \\
        --out benchmarks/results/two_questions.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from molstrata.report.headline_section import SINGLE_LAYER
from molstrata.report.stats import SPEARMAN, headline, paired_task_table

#: strategy -> question, in table order (single-layer: molstrata.report.headline_section.SINGLE_LAYER)
QUESTIONS = {n: "a" if n in SINGLE_LAYER else "b" for n in ("valid", "cv", "cv-1se", "ensemble", "concat", "mix")}
COLUMNS = ["encoder", "question", "strategy", "tasks", "n_tasks", "n_seeds", "mean_delta_pct", "ci_low",
           "ci_high", "median_delta_pct", "better", "worse", "ci_above_0", "ci_below_0", "wilcoxon_w",
           "wilcoxon_p", "interval"]


def _one_hot(weights: pd.Series) -> bool:
    return all(sum(float(w) > 0 for w in str(v).split(";") if w.strip()) == 1 for v in weights)


def answer(seeds: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of :data:`COLUMNS` for one encoder's ``selection_seeds.csv`` frame."""
    rows = []
    for strategy, question in QUESTIONS.items():
        mine = seeds[seeds["strategy"] == strategy]
        if mine.empty:
            continue
        if question == "a" and "weights" in mine and not _one_hot(mine["weights"]):
            raise SystemExit(f"{name}: {strategy} rows are not all one layer; the split (a)/(b) is wrong")
        pairs = mine.rename(columns={"test_score": "chosen", "final_test_score": "final"})
        per = paired_task_table(pairs.assign(encoder=name))
        spearman = per["metric"] == SPEARMAN
        for which, s in headline(per).items():
            part = per[~spearman] if which != "all" else per
            rows.append({
                "encoder": name, "question": question, "strategy": strategy, "tasks": which,
                "n_tasks": s.n, "n_seeds": int(part["n_seeds"].max()),
                "mean_delta_pct": s.interval.mean, "ci_low": s.interval.low, "ci_high": s.interval.high,
                "median_delta_pct": s.median, "better": s.better, "worse": s.worse,
                "ci_above_0": int(_above(part).sum()), "ci_below_0": int(_below(part).sum()),
                "wilcoxon_w": s.wilcoxon, "wilcoxon_p": s.p, "interval": "95% Student-t over tasks",
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def _above(per: pd.DataFrame) -> np.ndarray:
    """Tasks whose paired interval over seeds says "better" (+ side of Δ%)."""
    return (per["delta_low"] > 0).to_numpy()


def _below(per: pd.DataFrame) -> np.ndarray:
    return (per["delta_high"] < 0).to_numpy()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", action="append", required=True,
                    help="NAME=path/to/selection_seeds.csv (repeat per encoder)")
    ap.add_argument("--out", default="benchmarks/results/two_questions.csv")
    args = ap.parse_args(argv)
    frames = []
    for spec in args.table:
        name, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"--table {spec!r}: expected NAME=path")
        frames.append(answer(pd.read_csv(Path(path)), name))
    table = pd.concat(frames, ignore_index=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.6g")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.drop(columns=["interval"]).to_string(index=False, float_format=lambda x: f"{x:.3g}"))


if __name__ == "__main__":
    main()
