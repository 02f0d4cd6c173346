"""Figures of a probe run (matplotlib, Agg backend, PNG), drawn from its tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def depth_curves(results: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Path:
    """Per task: test score (mean over seeds, ±1 std band) vs relative depth, one line per
    encoder; dashed: validation score; dots: the validation-selected layers' depths.

    Parameters
    ----------
    results : ``probe_results.csv`` (long)
    summary : ``summary.csv``
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
            n_layers = int(e["layer"].max()) + 1
            depth = np.arange(n_layers) / max(n_layers - 1, 1)
            c = colors[j % len(colors)]
            for split, style in (("test", "-"), ("valid", "--")):
                g = e[e["split"] == split].groupby("layer")["score"]
                mean = g.mean().reindex(range(n_layers)).to_numpy()
                std = g.std(ddof=0).reindex(range(n_layers)).to_numpy()
                label = f"{enc} ({split})" if i == 0 else None
                ax.plot(depth, mean, style, color=c, lw=1.4 if split == "test" else 1.0, label=label)
                if split == "test":
                    ax.fill_between(depth, mean - std, mean + std, color=c, alpha=0.2, lw=0)
            row = summary[(summary["encoder"] == enc) & (summary["task"] == task)]
            if not row.empty:
                sel = [int(v) for v in str(row["selected_layers"].iloc[0]).split(";") if v.isdigit()]
                test_mean = e[e["split"] == "test"].groupby("layer")["score"].mean()
                ax.plot([k / max(n_layers - 1, 1) for k in sel], [test_mean[k] for k in sel],
                        "o", color=c, ms=4, alpha=0.7)
        arrow = "↓" if metric in ("mae", "rmse") else "↑"
        ax.set_title(f"{task}", fontsize=8)
        ax.set_ylabel(f"{metric} {arrow}", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xlim(0, 1)
    for i in range(len(tasks), nrow * ncol):
        axes[i // ncol][i % ncol].axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("relative depth", fontsize=7)
    fig.legend(loc="lower center", ncol=max(1, 2 * len(encoders)), fontsize=7, frameon=False)
    fig.suptitle("Probe score vs depth (solid: test mean ±1 std over seeds; dashed: valid; "
                 "dots: layers selected without test)", fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def delta_heatmap(summary: pd.DataFrame, path: Path, column: str = "delta_pct",
                  title: str = "Δ% of the selection (no test) over the final layer (test)") -> Path:
    """Tasks × encoders heatmap of ``column`` (Δ%), diverging around 0, values annotated."""
    plt = _plt()
    table = summary.pivot(index="task", columns="encoder", values=column)
    table = table.reindex(index=list(dict.fromkeys(summary["task"])),
                          columns=list(dict.fromkeys(summary["encoder"])))
    values = table.to_numpy(dtype=float)
    lim = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    lim = max(lim, 1.0)
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
    bar.set_label("Δ% (positive: better than the final layer)", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def selected_depth_histogram(summary: pd.DataFrame, n_layers: dict[str, int], path: Path) -> Path:
    """Histogram of the relative depths of the validation-selected layers (all tasks and seeds)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    bins = np.linspace(0, 1, 11)
    data, labels = [], []
    for enc, g in summary.groupby("encoder", sort=False):
        depth = [int(v) / max(n_layers.get(enc, 1) - 1, 1)
                 for s in g["selected_layers"] for v in str(s).split(";") if v.isdigit()]
        data.append(depth)
        labels.append(f"{enc} (n={len(depth)})")
    ax.hist(data, bins=bins, label=labels, alpha=0.85)
    ax.set_xlabel("relative depth of the selected layer (0 = embeddings, 1 = final)")
    ax.set_ylabel("(task, seed) count")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Where validation puts the best layer", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
