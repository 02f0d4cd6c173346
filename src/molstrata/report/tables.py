"""Markdown tables of a probe run (read from its CSV files; no scores computed here)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _fmt(x: float, digits: int = 3) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def format_pct(x: float | None, digits: int = 1) -> str:
    """A signed percentage (``"+4.1%"``), or ``"n/a"`` when ``x`` is missing, NaN or infinite.

    Every Δ% molstrata prints goes through here, so none reads ``"+nan%"``.
    """
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+.{digits}f}%"


_pct = format_pct


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (values as strings)."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def summary_table(summary: pd.DataFrame, n_layers: dict[str, int]) -> str:
    """Per encoder and task: final vs validation-selected test score, Δ%, and the oracle.

    Parameters
    ----------
    summary : the run's ``summary.csv``
    n_layers : encoder -> number of layer outputs (for relative depths)
    """
    rows = []
    for r in summary.itertuples(index=False):
        lower = " (lower is better)" if r.metric in ("mae", "rmse") else ""
        layers = [int(v) for v in str(r.selected_layers).split(";") if v.isdigit()]  # one-layer choices
        depth = np.mean(layers) / max(n_layers.get(r.encoder, 1) - 1, 1) if layers else float("nan")
        rows.append({
            "encoder": r.encoder, "task": r.task, "metric": f"{r.metric}{lower}",
            "final layer (test)": f"{_fmt(r.final_test_mean)} ± {_fmt(r.final_test_std)}",
            "selected, no test (test)": f"{_fmt(r.selected_test_mean)} ± {_fmt(r.selected_test_std)}",
            "Δ% selected": _pct(r.delta_pct),
            "selected layers (per seed)": str(r.selected_layers).replace(";", ", "),
            "mean rel. depth": _fmt(depth, 2),
            "oracle layer (picked on TEST)": int(r.oracle_layer),
            "oracle Δ% (optimistic)": _pct(r.oracle_delta_pct),
        })
    return markdown_table(pd.DataFrame(rows))


def overview_table(summary: pd.DataFrame) -> str:
    """Per encoder: mean Δ% of the validation-selected layers vs the test-picked oracle."""
    rows = []
    for enc, g in summary.groupby("encoder", sort=False):
        sel, ora = g["delta_pct"].to_numpy(float), g["oracle_delta_pct"].to_numpy(float)
        rows.append({
            "encoder": enc, "tasks": len(g),
            "mean Δ% selected (no test)": _pct(np.nanmean(sel)),
            "median Δ% selected": _pct(np.nanmedian(sel)),
            "tasks where selected beats final": f"{int((sel > 0).sum())}/{len(g)}",
            "max Δ% selected": _pct(np.nanmax(sel)),
            "mean oracle Δ% (picked on TEST)": _pct(np.nanmean(ora)),
            "optimism of test-picking (points)": format_pct(np.nanmean(ora) - np.nanmean(sel)).rstrip("%"),
        })
    return markdown_table(pd.DataFrame(rows))
