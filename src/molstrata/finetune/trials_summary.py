"""The summary of a trials table (issue 23): truncated vs full finetune, finetuned vs frozen.

Inputs are a checked trials table (:mod:`molstrata.finetune.trials`) and the frozen linear
probe's scores on the same splits (``frozen_results.csv`` rows: ``task, metric, layer,
split, score, seed``). Every number uses the selected trial of each (task, seed, depth)
cell, i.e. the learning rate and epoch chosen on validation, and its one test score.

Δ% is the paper's formula (:func:`molstrata.data._metrics.delta_pct`; positive = better
than the reference), taken per seed and then averaged, with a 95% Student-t interval over
seeds (over the per-seed means across tasks for the pooled rows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from molstrata.core.choice import best_index
from molstrata.data._metrics import delta_pct, higher_is_better


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` of a 1-D sample: Student-t interval; NaN bounds below 2 values."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - half, m + half


def selected_scores(trials: pd.DataFrame) -> pd.DataFrame:
    """The selected trial of each cell: columns ``task, seed, depth, lr, epoch, valid_score,
    test_score``."""
    sel = trials[trials["selected"].astype(bool)]
    return sel[["task", "seed", "depth", "lr", "epoch", "valid_score", "test_score"]].reset_index(drop=True)


def depth_table(trials: pd.DataFrame, frozen: pd.DataFrame, metrics: dict[str, str],
                full_depth: int) -> pd.DataFrame:
    """One row per (task, depth): finetuned test mean, Δ% vs the full-depth finetune
    (paired by seed, with interval), the frozen probe at that layer and the finetune's Δ%
    over it.

    Returns
    -------
    DataFrame with columns ``task, metric, depth, n_seeds, test_mean, test_std,
    delta_vs_full, delta_lo, delta_hi, frozen_test_mean, delta_vs_frozen,
    delta_vs_frozen_lo, delta_vs_frozen_hi``.
    """
    sel = selected_scores(trials)
    fz = frozen[frozen["split"] == "test"].set_index(["task", "layer", "seed"])["score"]
    rows = []
    for (task, depth), g in sel.groupby(["task", "depth"], sort=True):
        metric = metrics[str(task)]
        full = sel[(sel["task"] == task) & (sel["depth"] == full_depth)].set_index("seed")["test_score"]
        g = g.set_index("seed")
        paired = [delta_pct(full[s], g.loc[s, "test_score"], metric) for s in g.index if s in full.index]
        frozen_s = {s: fz.get((task, depth, s), np.nan) for s in g.index}
        vs_frozen = [delta_pct(frozen_s[s], g.loc[s, "test_score"], metric) for s in g.index]
        d, lo, hi = mean_interval(np.array(paired, dtype=np.float64))
        f, flo, fhi = mean_interval(np.array(vs_frozen, dtype=np.float64))
        rows.append({
            "task": task, "metric": metric, "depth": int(depth), "n_seeds": len(g),
            "test_mean": float(g["test_score"].mean()), "test_std": float(g["test_score"].std(ddof=0)),
            "delta_vs_full": d, "delta_lo": lo, "delta_hi": hi,
            "frozen_test_mean": float(np.nanmean(list(frozen_s.values()))) if any(
                np.isfinite(list(frozen_s.values()))) else float("nan"),
            "delta_vs_frozen": f, "delta_vs_frozen_lo": flo, "delta_vs_frozen_hi": fhi,
        })
    return pd.DataFrame(rows)


def chosen_depth_table(trials: pd.DataFrame, metrics: dict[str, str], full_depth: int) -> pd.DataFrame:
    """Per (task, seed): the depth validation picks (ties: the shallowest) and the depth test
    would pick (the paper's optimistic choice), each as Δ% vs that seed's full finetune.

    Returns
    -------
    DataFrame with columns ``task, seed, valid_depth, delta_valid_choice, test_depth,
    delta_test_choice``.
    """
    sel = selected_scores(trials)
    rows = []
    for (task, seed), g in sel.groupby(["task", "seed"], sort=True):
        metric, up = metrics[str(task)], higher_is_better(metrics[str(task)])
        g = g.sort_values("depth")
        full = g[g["depth"] == full_depth]["test_score"]
        if full.empty:
            continue
        v = g.iloc[best_index(g["valid_score"].to_numpy(), up) or 0]
        t = g.iloc[best_index(g["test_score"].to_numpy(), up) or 0]
        rows.append({"task": task, "seed": int(seed),
                     "valid_depth": int(v["depth"]), "delta_valid_choice": float(delta_pct(full.iloc[0], v["test_score"], metric)),
                     "test_depth": int(t["depth"]), "delta_test_choice": float(delta_pct(full.iloc[0], t["test_score"], metric))})
    return pd.DataFrame(rows)


def pooled(chosen: pd.DataFrame, trials: pd.DataFrame, metrics: dict[str, str],
           full_depth: int, frozen: pd.DataFrame | None = None,
           heads: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows ``quantity, mean, low, high, n_seeds, n_tasks``: the valid- and test-chosen
    depth's Δ% vs full, and each depth's Δ% vs full (over the tasks that have it), each
    averaged over tasks within a seed, then mean and interval over seeds.

    With ``frozen`` (``frozen_results.csv`` rows), also each depth's finetune vs the frozen
    probe at that layer (``depth k vs frozen``), and the validation-chosen finetune vs the
    frozen probe's validation-chosen layer (``valid choice vs frozen valid choice``: both
    sides picked without test). With ``heads`` (rows ``task, seed, test_score``: a frozen
    head chosen without test, e.g. the tuned-heads leaderboard's), the validation-chosen
    finetune vs that head (``valid choice vs tuned head``)."""
    rows = [_pooled_row(col, chosen.rename(columns={col: "delta"}) if len(chosen) else _NO_DELTAS)
            for col in ("delta_valid_choice", "delta_test_choice")]
    sel = selected_scores(trials)
    full = sel[sel["depth"] == full_depth].set_index(["task", "seed"])["test_score"]
    paired = sel[sel.set_index(["task", "seed"]).index.isin(full.index)]
    paired = paired.assign(delta=[delta_pct(full[(t, s)], v, metrics[str(t)])
                                  for t, s, v in paired[["task", "seed", "test_score"]].itertuples(index=False)])
    rows += [_pooled_row(f"depth {int(depth)} vs full", g) for depth, g in paired.groupby("depth", sort=True)]
    if frozen is not None:
        rows += _vs_frozen_rows(chosen, sel, frozen, metrics)
    if heads is not None:
        rows.append(_vs_heads_row(chosen, sel, heads, metrics))
    return pd.DataFrame(rows, columns=["quantity", "mean", "low", "high", "n_seeds", "n_tasks"])


_NO_DELTAS = pd.DataFrame(columns=["task", "seed", "delta"])


def _pooled_row(quantity: str, frame: pd.DataFrame) -> dict:
    """One pooled row from ``task, seed, delta`` rows: tasks averaged within a seed, then a
    t interval over seeds."""
    frame = frame.dropna(subset=["delta"])
    per_seed = frame.groupby("seed")["delta"].mean().to_numpy()
    m, lo, hi = mean_interval(per_seed)
    return {"quantity": quantity, "mean": m, "low": lo, "high": hi, "n_seeds": len(per_seed),
            "n_tasks": frame["task"].nunique()}


def _vs_heads_row(chosen: pd.DataFrame, sel: pd.DataFrame, heads: pd.DataFrame,
                  metrics: dict[str, str]) -> dict:
    """The pooled row of :func:`pooled` that compares the validation-chosen finetune with a
    frozen head's test scores (``heads``: ``task, seed, test_score``)."""
    ft = sel.set_index(["task", "seed", "depth"])["test_score"]
    ref = heads.set_index(["task", "seed"])["test_score"]
    d = [delta_pct(ref.get((t, s), np.nan), ft[(t, s, depth)], metrics[str(t)])
         for t, s, depth in chosen[["task", "seed", "valid_depth"]].itertuples(index=False)]
    return _pooled_row("valid choice vs tuned head", chosen.assign(delta=d))


def _vs_frozen_rows(chosen: pd.DataFrame, sel: pd.DataFrame, frozen: pd.DataFrame,
                    metrics: dict[str, str]) -> list[dict]:
    """The pooled rows of :func:`pooled` that compare the finetune with the frozen probe."""
    test = frozen[frozen["split"] == "test"].set_index(["task", "layer", "seed"])["score"]
    rows = []
    for depth, g in sel.groupby("depth", sort=True):
        d = [delta_pct(test.get((t, depth, s), np.nan), v, metrics[str(t)])
             for t, s, v in g[["task", "seed", "test_score"]].itertuples(index=False)]
        rows.append(_pooled_row(f"depth {int(depth)} vs frozen", g.assign(delta=d)))
    valid = frozen[frozen["split"] == "valid"]
    ft = sel.set_index(["task", "seed", "depth"])["test_score"]
    pairs = []
    for t, s, depth in chosen[["task", "seed", "valid_depth"]].itertuples(index=False):
        v = valid[(valid["task"] == t) & (valid["seed"] == s)].sort_values("layer")
        if v.empty:
            continue
        layer = int(v["layer"].iloc[best_index(v["score"].to_numpy(), higher_is_better(metrics[str(t)])) or 0])
        pairs.append({"task": t, "seed": s,
                      "delta": delta_pct(test.get((t, layer, s), np.nan), ft[(t, s, depth)], metrics[str(t)])})
    rows.append(_pooled_row("valid choice vs frozen valid choice",
                            pd.DataFrame(pairs, columns=["task", "seed", "delta"])))
    return rows


def depth_correlations(depths: pd.DataFrame, min_points: int = 4) -> pd.DataFrame:
    """Per task, Pearson and Spearman r of frozen vs finetuned test means over depths (NaN
    with fewer than ``min_points`` depths or a constant side)."""
    from scipy import stats

    rows = []
    for task, g in depths.groupby("task", sort=True):
        g = g.dropna(subset=["frozen_test_mean", "test_mean"])
        x, y = g["frozen_test_mean"].to_numpy(), g["test_mean"].to_numpy()
        ok = len(g) >= min_points and np.ptp(x) > 0 and np.ptp(y) > 0
        rows.append({"task": task, "n_depths": len(g),
                     "pearson": float(stats.pearsonr(x, y)[0]) if ok else float("nan"),
                     "spearman": float(stats.spearmanr(x, y)[0]) if ok else float("nan")})
    return pd.DataFrame(rows, columns=["task", "n_depths", "pearson", "spearman"])


def write_figures(folder: str | Path, name: str, depths: pd.DataFrame) -> list[Path]:
    """``<name>_delta_vs_depth.png`` (Δ% vs full per task, with intervals) and
    ``<name>_frozen_vs_finetuned.png`` (test means, one marker per (task, depth))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}_delta_vs_depth.png", folder / f"{name}_frozen_vs_finetuned.png"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for task, g in depths.groupby("task", sort=True):
        ax.errorbar(g["depth"], g["delta_vs_full"], yerr=[g["delta_vs_full"] - g["delta_lo"],
                    g["delta_hi"] - g["delta_vs_full"]], marker="o", capsize=2, label=str(task))
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="depth (blocks kept)", ylabel="Δ% vs full-depth finetune (test)", title=name)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(paths[0], dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 5))
    for task, g in depths.groupby("task", sort=True):
        ax.scatter(g["frozen_test_mean"], g["test_mean"], label=str(task), s=14)
    both = pd.concat([depths["frozen_test_mean"], depths["test_mean"]]).dropna()
    if len(both):
        ax.plot([both.min(), both.max()], [both.min(), both.max()], ls=":", color="grey", lw=0.8)
    ax.set(xlabel="frozen linear probe (test mean)", ylabel="finetuned (test mean)", title=name)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)
    return paths
