"""The "Layer selection strategies" section of ``report.md``, from ``selection.csv`` and
``selection_summary.csv`` (written by ``molstrata probe --selection ...``; no score computed
here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from molstrata.report.tables import _fmt, _pct, markdown_table

ORACLE_PREFIX = "oracle"

_EXPLAIN = (
    "Every strategy chooses from `train_val` only: `valid` takes the layer best on the seed's "
    "validation split; `cv` the layer with the best mean score over a scaffold-grouped "
    "k-fold cross-validation inside `train_val` (regularisation nested inside each fold); "
    "`cv-1se` keeps the final layer unless another layer beats it by more than one standard "
    "error of the paired fold differences; `concat` concatenates the top-m layers by CV score "
    "(m chosen by the CV); `ensemble` averages every layer's probe with weights from the CV "
    "scores; `mix` learns a scalar mix of the equal-width layers with the linear head. The "
    "probes behind the test predictions are fit on the seed's train split with their "
    "regularisation chosen on its validation split (with the linear probe, the CV of a "
    "classification task fits ridge probes to the 0/1 labels). Δ% compares the mean test score over seeds "
    "with the final layer's (the paper's formula). The **oracle** rows pick the layer on the "
    "**test** set; they only measure how optimistic test-picking is and are never a strategy."
)


def _diff(x: float) -> str:
    return f"{x:+.3f}" if np.isfinite(x) else "n/a"


def _is_oracle(name: str) -> bool:
    return str(name).startswith(ORACLE_PREFIX)


def selection_overview_table(summary: pd.DataFrame) -> str:
    """Per encoder and strategy: mean / median Δ%, tasks better / worse, the worst task."""
    rows = []
    for r in summary.itertuples(index=False):
        name = f"**{r.strategy}**" if _is_oracle(r.strategy) else str(r.strategy)
        rows.append({
            "encoder": r.encoder, "strategy": name,
            "mean Δ%": _pct(r.mean_delta_pct), "median Δ%": _pct(r.median_delta_pct),
            "better / worse / equal (tasks)": f"{int(r.tasks_better)} / {int(r.tasks_worse)} / {int(r.tasks_equal)}",
            "worst task": f"{r.worst_task} ({_pct(r.worst_delta_pct)})",
            "best task": f"{r.best_task} ({_pct(r.best_delta_pct)})",
        })
    return markdown_table(pd.DataFrame(rows))


def selection_task_table(selection: pd.DataFrame) -> str:
    """Per encoder and task: each strategy's test mean ± std and Δ% (oracle last, labelled)."""
    rows = []
    for (enc, task), g in selection.groupby(["encoder", "task"], sort=False):
        metric = g["metric"].iloc[0]
        first = g.iloc[0]
        row = {"encoder": enc, "task": task,
               "metric": metric + (" (lower is better)" if metric in ("mae", "rmse") else ""),
               "final layer": f"{_fmt(first.final_test_mean)} ± {_fmt(first.final_test_std)}"}
        for r in g.itertuples(index=False):
            key = "oracle (TEST-picked)" if _is_oracle(r.strategy) else str(r.strategy)
            row[key] = f"{_fmt(r.test_mean)} ± {_fmt(r.test_std)} ({_pct(r.delta_pct)}, {_diff(r.test_mean - r.final_test_mean)})"
        rows.append(row)
    frame = pd.DataFrame(rows).fillna("")
    return markdown_table(frame)


def selection_section(run: str | Path) -> list[str]:
    """Markdown lines of the section, or ``[]`` when the run has no ``selection.csv``."""
    run = Path(run)
    path = run / "selection.csv"
    if not path.is_file():
        return []
    selection = pd.read_csv(path)
    if selection.empty:
        return []
    summary_path = run / "selection_summary.csv"
    if not summary_path.is_file():  # written with selection.csv by molstrata probe
        return []
    summary = pd.read_csv(summary_path)
    for col in ("worst_task", "best_task"):
        summary[col] = summary[col].fillna("").astype(str)
    n_seeds = int(np.nanmax(selection["n_seeds"])) if "n_seeds" in selection else 0
    return [
        "## Layer selection strategies",
        "",
        _EXPLAIN,
        "",
        f"Over {selection['task'].nunique()} task(s), {n_seeds} seed(s) (`selection.csv`, "
        "`selection_summary.csv`; every seed's choice and weights in `selection_seeds.csv`):",
        "",
        selection_overview_table(summary),
        "",
        "Per task, test mean ± std over seeds (Δ% over the final layer, and the absolute "
        "difference):",
        "",
        selection_task_table(selection),
        "",
    ]
