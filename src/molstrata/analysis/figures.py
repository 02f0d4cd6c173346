"""Figures of a depth analysis (PNG, matplotlib's Agg backend; no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

_LABELS = {
    "dataset_entropy": "dataset entropy (normalised)",
    "effective_rank": "effective rank",
    "token_entropy": "token/atom entropy (normalised)",
    "token_curvature": "token/atom curvature (rad)",
    "depth_curvature": "depth curvature (rad; inner layers only)",
    "cka_final": "CKA with final layer",
    "infonce_mi": "InfoNCE MI bound (nats)",
    "lidar": "LiDAR (nats)",
    "dime": "DiME (nats)",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_metrics(
    metrics: pd.DataFrame, path: str | Path, *, recommended: dict[str, int] | None = None,
    title: str | None = None,
) -> Path:
    """One panel per metric: value vs relative depth, one line per encoder.

    Parameters
    ----------
    metrics : long DataFrame ``encoder, layer, relative_depth, metric, value``
    path : where to write the PNG
    recommended : optional ``{encoder: layer}``, drawn as a hollow marker
    title : figure title

    Returns
    -------
    Path of the PNG.
    """
    plt = _pyplot()
    names = [m for m in _LABELS if m in set(metrics["metric"])]
    names += [m for m in metrics["metric"].unique() if m not in names]
    encoders = list(metrics["encoder"].unique()) if "encoder" in metrics.columns else []
    # one encoder: tick its layer numbers (what the tables list); several: relative depth
    layer_ticks = None
    if len(encoders) == 1:
        ticks = (metrics[["layer", "relative_depth"]].drop_duplicates().sort_values("layer"))
        step = max(1, int(np.ceil(len(ticks) / 13)))
        keep = ticks.iloc[::step]
        if ticks.index[-1] not in keep.index:
            keep = pd.concat([keep, ticks.iloc[[-1]]])
        layer_ticks = (keep["relative_depth"].to_numpy(), [str(int(v)) for v in keep["layer"]])
    xlabel = ("layer (0 = input embeddings)" if layer_ticks is not None
              else "relative depth (0 = input embeddings, 1 = final layer)")
    ncols = min(3, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    for ax, m in zip(axes.ravel(), names, strict=False):
        sub = metrics[metrics["metric"] == m]
        for enc, g in sub.groupby("encoder", sort=False):
            g = g.sort_values("layer")
            line = ax.plot(g["relative_depth"], g["value"], marker="o", ms=3.5, lw=1.5, label=str(enc))
            if recommended and enc in recommended:
                r = g[g["layer"] == recommended[enc]]
                ax.plot(r["relative_depth"], r["value"], marker="o", ms=10, mfc="none",
                        mec=line[0].get_color(), mew=1.8, ls="none")
        ax.set_title(_LABELS.get(m, m), fontsize=10)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_xlim(-0.03, 1.03)
        if layer_ticks is not None:
            ax.set_xticks(layer_ticks[0], layer_ticks[1])
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    if len(labels) > 1 or recommended:
        extra = " (circle: recommended layer)" if recommended else ""
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=9,
                   title=f"encoder{extra}", title_fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=12)
    # fixed margins (inches) instead of tight_layout, which costs seconds per figure
    w, h = fig.get_size_inches()
    bottom = (0.55 + (0.45 if (len(labels) > 1 or recommended) else 0.0)) / h
    fig.subplots_adjust(left=0.6 / w, right=1 - 0.2 / w, top=1 - 0.7 / h, bottom=bottom,
                        wspace=0.28, hspace=0.55)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_cka(cka: np.ndarray, path: str | Path, *, title: str = "linear CKA between layers") -> Path:
    """Heatmap of an (n_layers, n_layers) CKA matrix, layer 0 at the top left.

    Returns
    -------
    Path of the PNG.
    """
    plt = _pyplot()
    cka = np.asarray(cka, dtype=float)
    n = cka.shape[0]
    size = min(9.0, 3.0 + 0.35 * n)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    low = float(np.nanmin(cka)) if np.isfinite(cka).any() else 0.0
    # stretch the colour range to the data (values are printed in the cells anyway)
    vmin = max(0.0, np.floor(min(low, 0.95) * 20) / 20)
    im = ax.imshow(cka, vmin=vmin, vmax=1.0, cmap="viridis", origin="upper")
    step = max(1, int(np.ceil(n / 16)))
    ticks = np.arange(0, n, step)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("layer")
    ax.set_ylabel("layer")
    if n <= 14:
        for i in range(n):
            for j in range(n):
                if np.isfinite(cka[i, j]):
                    ax.text(j, i, f"{cka[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="black" if cka[i, j] > vmin + 0.6 * (1 - vmin) else "white")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04,
                 label="CKA" + (f" (colour scale from {vmin:.2f})" if vmin > 0 else ""))
    ax.set_title(title, fontsize=11)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
