"""Figures of a probe run (matplotlib, Agg backend, PNG), drawn from its tables."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def depth_curves(results: pd.DataFrame, per_task: pd.DataFrame, path: Path, chosen: str = "selection") -> Path:
    """Per task: test score (mean over seeds, ±1 std band) vs relative depth, one line per
    encoder; dashed: validation score; a star with an error bar: the chosen layers' (or layer
    combination's) own test score (mean ± std over seeds) at its weight-averaged depth, with a
    dotted line at that score.

    Parameters
    ----------
    results : ``probe_results.csv`` (long)
    per_task : :func:`molstrata.report.context.task_frame` (``chosen_mean``, ``chosen_std``, ``depth``)
    chosen : the strategy's name, for the legend
    """
    plt = _plt()
    tasks = list(dict.fromkeys(results["task"]))
    encoders = list(dict.fromkeys(results["encoder"]))
    ncol = min(5, len(tasks))
    nrow = math.ceil(len(tasks) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 2.6 * nrow), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, task in enumerate(tasks):
        ax = axes[i // ncol][i % ncol]
        sub = results[results["task"] == task]
        metric = sub["metric"].iloc[0]
        for j, enc in enumerate(encoders):
            e = sub[sub["encoder"] == enc]
            if e.empty:
                continue
            _depth_lines(ax, e, colors[j % len(colors)], enc if i == 0 else None)
            row = per_task[(per_task["encoder"] == enc) & (per_task["task"] == task)]
            if not row.empty and np.isfinite(row["chosen_mean"].iloc[0]):
                r = row.iloc[0]
                x = r["depth"] if np.isfinite(r["depth"]) else 1.0
                ax.axhline(r["chosen_mean"], color=colors[j % len(colors)], ls=":", lw=0.9)
                ax.errorbar([x], [r["chosen_mean"]], yerr=[r["chosen_std"]], fmt="*", ms=9,
                            color=colors[j % len(colors)], mec="black", mew=0.5, capsize=2,
                            label=f"{enc} ({chosen}, test)" if i == 0 else None)
        arrow = "↓" if metric in ("mae", "rmse") else "↑"
        ax.set_title(f"{task}", fontsize=8)
        ax.set_ylabel(f"{metric} {arrow}", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xlim(-0.03, 1.03)
    for i in range(len(tasks), nrow * ncol):
        axes[i // ncol][i % ncol].axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("relative depth", fontsize=7)
    fig.legend(loc="lower center", ncol=max(1, 3 * len(encoders)), fontsize=7, frameon=False)
    fig.suptitle(f"Probe score vs depth (solid: test mean ±1 std over seeds; dashed: valid;\n"
                 f"star: the {chosen} choice's own test score at its weight-averaged depth)", fontsize=9)
    _grid_margins(fig)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _grid_margins(fig: Figure) -> None:
    """Fixed margins in inches around a grid of small panels, for the legend (bottom) and a
    two-line title (top): what ``tight_layout`` finds for these panels, without measuring
    every tick label (seconds for the 22 ADMET tasks' grid)."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=0.55 / width, right=1 - 0.15 / width, bottom=0.05 + 0.45 / height,
                        top=0.97 - 0.55 / height, wspace=0.42, hspace=0.55)


def _depth_lines(ax: Axes, e: pd.DataFrame, color: str, label: str | None) -> None:
    """One encoder's test (solid, ±1 std band) and valid (dashed) curves on ``ax``."""
    n_layers = int(e["layer"].max()) + 1
    depth = np.arange(n_layers) / max(n_layers - 1, 1)
    for split, style in (("test", "-"), ("valid", "--")):
        g = e[e["split"] == split].groupby("layer")["score"]
        mean = g.mean().reindex(range(n_layers)).to_numpy()
        std = g.std(ddof=0).reindex(range(n_layers)).to_numpy()
        ax.plot(depth, mean, style, color=color, lw=1.4 if split == "test" else 1.0,
                label=f"{label} ({split}, per layer)" if label else None)
        if split == "test":
            ax.fill_between(depth, mean - std, mean + std, color=color, alpha=0.2, lw=0)


def shared_limit(*columns: pd.Series) -> float:
    """One colour limit (max |value|, at least 1) for Δ% heatmaps drawn side by side."""
    values = np.concatenate([np.asarray(c, dtype=float) for c in columns]) if columns else np.array([])
    values = values[np.isfinite(values)]
    return max(float(np.abs(values).max()), 1.0) if values.size else 1.0


def delta_heatmap(frame: pd.DataFrame, path: Path, column: str, title: str, lim: float | None = None,
                  label: str = "Δ% (positive: better)") -> Path:
    """Tasks × encoders heatmap of ``frame[column]`` (Δ%), diverging around 0 on ±``lim``
    (default: its own max |value|), values annotated."""
    plt = _plt()
    table = frame.pivot(index="task", columns="encoder", values=column)
    table = table.reindex(index=list(dict.fromkeys(frame["task"])),
                          columns=list(dict.fromkeys(frame["encoder"])))
    values = table.to_numpy(dtype=float)
    lim = shared_limit(frame[column]) if lim is None else lim
    fig, ax = plt.subplots(figsize=(max(4.5, 2.5 + 1.4 * table.shape[1]), 1.4 + 0.32 * table.shape[0]))
    im = ax.imshow(values, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    names = [c if len(c) <= 24 else "…" + c[-23:] for c in map(str, table.columns)]
    ax.set_xticks(range(table.shape[1]), names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=7)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:+.1f}", ha="center", va="center", fontsize=6.5,
                        color="white" if abs(v) > 0.6 * lim else "black")
    bar = fig.colorbar(im, ax=ax)
    bar.set_label(label, fontsize=7)
    bar.ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def weight_heatmap(weights: pd.DataFrame, path: Path, title: str) -> Path | None:
    """Per encoder, a tasks × layers heatmap of the mean weight over seeds (``weights``: long
    ``encoder, task, seed, layer, weight``); ``None`` (nothing drawn) when it is empty."""
    if weights.empty:
        return None
    plt = _plt()
    encoders = list(dict.fromkeys(weights["encoder"]))
    tasks = list(dict.fromkeys(weights["task"]))
    n_layers = int(weights["layer"].max()) + 1
    fig, axes = plt.subplots(1, len(encoders), squeeze=False,
                             figsize=(2.5 + 0.35 * n_layers * len(encoders), 1.5 + 0.3 * len(tasks)))
    for ax, enc in zip(axes[0], encoders, strict=True):
        w = weights[weights["encoder"] == enc]
        table = w.groupby(["task", "layer"])["weight"].mean().unstack("layer")
        table = table.reindex(index=tasks, columns=range(int(w["layer"].max()) + 1)).fillna(0.0)
        values = table.to_numpy(float)
        im = ax.imshow(values, cmap="Greens", vmin=0, vmax=1, aspect="auto")
        for (i, j), v in np.ndenumerate(values):
            if v >= 0.005:
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=5.5,
                        color="white" if v > 0.6 else "black")
        ax.set_xticks(range(table.shape[1]), table.columns, fontsize=6)
        ax.set_yticks(range(len(tasks)), tasks, fontsize=7)
        ax.set_xlabel("layer (0 = embeddings)", fontsize=7)
        ax.set_title(enc, fontsize=8)
    bar = fig.colorbar(im, ax=axes[0].tolist())
    bar.set_label("mean weight over seeds", fontsize=7)
    fig.suptitle(title, fontsize=9, y=1.04)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def selected_depth_histogram(depths: pd.DataFrame, path: Path, title: str) -> Path | None:
    """Histogram of the per-(task, seed) weight-averaged relative depths (``depths``:
    ``encoder, task, seed, depth``); ``None`` (nothing drawn) when there is none."""
    depths = depths[np.isfinite(depths["depth"].astype(float))] if not depths.empty else depths
    if depths.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    data, labels = [], []
    for enc, g in depths.groupby("encoder", sort=False):
        data.append(g["depth"].to_numpy(float))
        labels.append(f"{enc} (n={len(g)})")
    ax.hist(data, bins=np.linspace(0, 1, 11), label=labels, alpha=0.85)
    ax.set_xlabel("relative depth (0 = embeddings, 1 = final);\ncombinations: weight-averaged", fontsize=8)
    ax.set_ylabel("(task, seed) count")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
