"""Markdown tables of a probe run (read from its CSV files; no scores computed here)."""

from __future__ import annotations

from collections.abc import Callable

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


def format_delta(pct: float | None, diff: float | None, digits: int = 3) -> str:
    """Δ% with the absolute difference beside it: ``"+19.6% (-0.150)"`` (``n/a`` parts
    when missing)."""
    if diff is None or not np.isfinite(diff):
        return format_pct(pct)
    return f"{format_pct(pct)} ({diff:+.{digits}f})"


def _lower(metric: str) -> str:
    return f"{metric} (lower is better)" if metric in ("mae", "rmse") else str(metric)


def _ms(mean: float, std: float) -> str:
    return f"{_fmt(mean)} ± {_fmt(std)}"


def overview_table(per_task: pd.DataFrame, chosen: str) -> str:
    """Per encoder: the mean gain of the ``chosen`` strategy over the final layer, how often
    it is within the spread over seeds, and the optimism of test-picking (test-picked vs
    validation-picked single layer)."""
    rows = []
    for enc, g in per_task.groupby("encoder", sort=False):
        gain, opt = g["gain_pct"].to_numpy(float), g["optimism_pct"].to_numpy(float)
        base = g["baseline_mean"].to_numpy(float)
        n_base = int(np.isfinite(base).sum())
        beats = sum(better_or_nan(m, c, b) for m, c, b in zip(g["metric"], g["chosen_mean"], base, strict=True))
        rows.append({
            "encoder": enc, "tasks": len(g),
            f"mean Δ% {chosen} vs final layer": _nanstat(np.nanmean, gain),
            "median": _nanstat(np.nanmedian, gain),
            "better / worse (tasks)": f"{int((gain > 0).sum())} / {int((gain < 0).sum())}",
            "Δ within seed spread (tasks)": f"{int(g['within_spread'].sum())}/{len(g)}",
            "mean optimism of test-picking, single layer": _nanstat(np.nanmean, opt),
            f"{chosen} beats ECFP4 baseline (tasks)": f"{beats}/{n_base}" if n_base else "n/a",
        })
    return markdown_table(pd.DataFrame(rows))


def better_or_nan(metric: str, a: float, b: float) -> bool:
    """Whether ``a`` beats ``b`` under ``metric`` (False when either is missing)."""
    if not (np.isfinite(a) and np.isfinite(b)):
        return False
    return bool(a < b) if metric in ("mae", "rmse") else bool(a > b)


def _nanstat(f: Callable[[np.ndarray], float], values: np.ndarray) -> str:
    values = values[np.isfinite(values)]
    return format_pct(float(f(values))) if values.size else "n/a"


def gain_table(per_task: pd.DataFrame, chosen: str) -> str:
    """Per encoder and task: the final layer vs the ``chosen`` strategy (test mean ± std),
    Δ% with the absolute difference, a flag when that difference is within the spread over
    seeds, each seed's choice and the weight-averaged relative depth."""
    rows = []
    for r in per_task.itertuples(index=False):
        rows.append({
            "encoder": r.encoder, "task": r.task, "metric": _lower(r.metric),
            "final layer (test)": _ms(r.final_mean, r.final_std),
            f"{chosen} (test)": _ms(r.chosen_mean, r.chosen_std),
            "Δ% (abs. diff.)": format_delta(r.gain_pct, r.gain_abs) + (" ≈" if r.within_spread else ""),
            "choice per seed": str(r.choices).replace(";", ", "),
            "mean rel. depth": _fmt(r.depth, 2),
        })
    return markdown_table(pd.DataFrame(rows))


def optimism_table(per_task: pd.DataFrame) -> str:
    """Per encoder and task: the single layer picked on validation vs the single layer
    picked on test (oracle), and the optimism of the latter (Δ% with the absolute diff.)."""
    rows = []
    for r in per_task.itertuples(index=False):
        rows.append({
            "encoder": r.encoder, "task": r.task, "metric": _lower(r.metric),
            "layer picked on valid (per seed)": str(r.single_layers).replace(";", ", "),
            "its test score": _ms(r.single_mean, r.single_std),
            "oracle layer (picked on TEST)": int(r.oracle_layer),
            "oracle test score": _ms(r.oracle_mean, r.oracle_std),
            "optimism Δ% (abs. diff.)": format_delta(r.optimism_pct, r.optimism_abs),
        })
    return markdown_table(pd.DataFrame(rows))


def context_table(per_task: pd.DataFrame, chosen: str) -> str:
    """Per encoder and task: the ``chosen`` test score beside the ECFP4 baseline (same probe,
    same splits) and the best published TDC leaderboard score."""
    rows = []
    for r in per_task.itertuples(index=False):
        gap = r.chosen_mean - r.baseline_mean
        rows.append({
            "encoder": r.encoder, "task": r.task, "metric": _lower(r.metric),
            f"{chosen} (test)": _ms(r.chosen_mean, r.chosen_std),
            "ECFP4 counts, same probe (test)": _ms(r.baseline_mean, r.baseline_std)
            if np.isfinite(r.baseline_mean) else "not run",
            "vs ECFP4 (abs. diff.)": f"{gap:+.3f}" if np.isfinite(gap) else "n/a",
            "TDC leaderboard best": f"{_fmt(r.sota)} ({r.sota_model}, {r.sota_date})"
            if np.isfinite(r.sota) else "not listed",
            f"{chosen} vs best (abs. diff.)": f"{r.chosen_mean - r.sota:+.3f}" if np.isfinite(r.sota) else "n/a",
        })
    return markdown_table(pd.DataFrame(rows))
