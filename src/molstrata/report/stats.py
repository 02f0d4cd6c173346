"""Uncertainty of a headline Δ (issue 21): paired per-seed differences with a Student-t
interval, the across-task mean Δ% with a Student-t interval over tasks, a Wilcoxon
signed-rank test across tasks, and the same without the Spearman tasks.

Pure functions of arrays and small frames; nothing here reads files or refits a probe.

* Per task, the seeds are paired (same split, same seed): ``d_s = chosen_s − final_s`` in
  the metric's units; the interval is ``mean(d) ± t(0.975, n−1) · sd(d, ddof=1) / √n``.
* Across tasks, Δ% (:func:`molstrata.data.delta_pct` of the per-task means; + = better
  than the final layer) is averaged over tasks; the interval is the same Student-t formula
  over tasks (the tasks are the sampling unit: the interval answers "on tasks like these",
  seed noise included through each task's mean).
* Wilcoxon signed-rank (``scipy.stats.wilcoxon``, two-sided, zero differences dropped) of
  the per-task Δ% against 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _st

from molstrata.data import delta_pct

#: the level of every interval here
LEVEL = 0.95
#: the metric whose tasks the second headline line leaves out (they drive the means)
SPEARMAN = "spearman"
#: columns :func:`paired_task_table` reads, one row per (encoder, task, seed)
PAIR_COLUMNS = ["encoder", "task", "metric", "seed", "chosen", "final"]


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided ``LEVEL`` Student-t interval over ``n`` values
    (``low``/``high`` NaN when ``n < 2``)."""

    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class DeltaSummary:
    """The across-task headline of one strategy vs the final layer.

    ``mean`` is the mean Δ% over ``n`` tasks with its Student-t interval (over tasks);
    ``median``; ``better`` / ``worse``: tasks with Δ% above / below 0; ``wilcoxon`` and
    ``p``: the signed-rank statistic (the smaller rank sum) and its two-sided p-value (NaN
    with fewer than 2 non-zero Δ%)."""

    interval: Interval
    median: float
    better: int
    worse: int
    wilcoxon: float
    p: float

    @property
    def n(self) -> int:
        return self.interval.n


def t_interval(values: np.ndarray | list[float], level: float = LEVEL) -> Interval:
    """Mean of ``values`` (shape ``(n,)``, NaN dropped) with its Student-t interval,
    ``mean ± t((1+level)/2, n−1) · sd(ddof=1) / √n``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Interval(np.nan, np.nan, np.nan, 0)
    mean = float(v.mean())
    if v.size < 2:
        return Interval(mean, np.nan, np.nan, 1)
    half = float(_st.t.ppf((1 + level) / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return Interval(mean, mean - half, mean + half, int(v.size))


def wilcoxon_test(deltas: np.ndarray | list[float]) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of ``deltas`` (shape ``(n_tasks,)``) against 0:
    ``(statistic, p)``; zeros and NaN are dropped; ``(nan, nan)`` with fewer than 2 left."""
    d = np.asarray(deltas, dtype=np.float64)
    d = d[np.isfinite(d) & (d != 0)]
    if d.size < 2:
        return np.nan, np.nan
    res = _st.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def summarize_deltas(deltas: np.ndarray | list[float]) -> DeltaSummary:
    """The headline of per-task Δ% values (shape ``(n_tasks,)``; + = better; NaN dropped)."""
    d = np.asarray(deltas, dtype=np.float64)
    d = d[np.isfinite(d)]
    w, p = wilcoxon_test(d)
    return DeltaSummary(t_interval(d), float(np.median(d)) if d.size else np.nan,
                        int((d > 0).sum()), int((d < 0).sum()), w, p)


def paired_task_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (encoder, task) of ``pairs`` (long, :data:`PAIR_COLUMNS`: one row per seed, the
    chosen and the final layer's test score): ``n_seeds``, ``chosen_mean``, ``final_mean``,
    ``diff_mean`` (= chosen − final, metric units) with ``diff_low``/``diff_high`` (its
    Student-t interval over seeds), ``delta_pct`` (Δ% of the means; + = better) and
    ``delta_low``/``delta_high`` (the interval of the difference as Δ% of the final mean,
    oriented so that + is better)."""
    rows = []
    for (enc, task), g in pairs.groupby(["encoder", "task"], sort=False):
        metric = str(g["metric"].iloc[0])
        chosen, final = g["chosen"].to_numpy(float), g["final"].to_numpy(float)
        ci = t_interval(chosen - final)
        fm = float(np.nanmean(final))
        pct = [float(delta_pct(fm, fm + x, metric)) for x in (ci.low, ci.high)]
        rows.append({"encoder": enc, "task": task, "metric": metric, "n_seeds": ci.n,
                     "chosen_mean": float(np.nanmean(chosen)), "final_mean": fm, "diff_mean": ci.mean,
                     "diff_low": ci.low, "diff_high": ci.high,
                     "delta_pct": float(delta_pct(fm, float(np.nanmean(chosen)), metric)),
                     "delta_low": float(np.nanmin(pct)) if np.isfinite(pct).any() else np.nan,
                     "delta_high": float(np.nanmax(pct)) if np.isfinite(pct).any() else np.nan})
    return pd.DataFrame(rows, columns=["encoder", "task", "metric", "n_seeds", "chosen_mean", "final_mean",
                                       "diff_mean", "diff_low", "diff_high", "delta_pct", "delta_low",
                                       "delta_high"])


def headline(per_task: pd.DataFrame) -> dict[str, DeltaSummary]:
    """``{"all": ..., "without spearman": ...}`` of ``per_task``'s ``delta_pct`` (one row per
    task, with a ``metric`` column); the second only when a Spearman task is among them."""
    out = {"all": summarize_deltas(per_task["delta_pct"].to_numpy(float))}
    spearman = per_task["metric"].astype(str) == SPEARMAN
    if spearman.any():
        out[f"without {SPEARMAN}"] = summarize_deltas(per_task.loc[~spearman, "delta_pct"].to_numpy(float))
    return out


def format_summary(s: DeltaSummary, digits: int = 1) -> str:
    """One line: ``+4.1% [95% CI +1.2%, +7.0%; t over 22 tasks], median +3.1%, better on
    19 / worse on 3; Wilcoxon signed-rank W = 12, p = 0.0003``."""
    def pct(x: float) -> str:
        return f"{x:+.{digits}f}%" if np.isfinite(x) else "n/a"

    ci = s.interval
    p = "n/a" if not np.isfinite(s.p) else (f"{s.p:.2g}" if s.p >= 1e-4 else f"{s.p:.1e}")
    w = "n/a" if not np.isfinite(s.wilcoxon) else f"{s.wilcoxon:g}"
    return (f"{pct(ci.mean)} [{int(LEVEL * 100)}% CI {pct(ci.low)}, {pct(ci.high)}; t over {ci.n} task(s)], "
            f"median {pct(s.median)}, better on {s.better} / worse on {s.worse}; "
            f"Wilcoxon signed-rank W = {w}, p = {p}")
