"""The probe part of ``report.md``: figures and tables drawn from a probe run's tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from molstrata.core.errors import ConfigError, DataNotFoundError
from molstrata.report.context import ProbeContext, load_probe, weighted_depths
from molstrata.report.figures import (
    delta_heatmap,
    depth_curves,
    selected_depth_histogram,
    shared_limit,
    weight_heatmap,
)
from molstrata.report.headline_section import CONTROL_DIR, sota_section, uncertainty_section
from molstrata.report.selection import selection_section
from molstrata.report.tables import context_table, gain_table, optimism_table, overview_table

REQUIRED_RESULTS = {"encoder", "task", "metric", "layer", "seed", "split", "score"}
REQUIRED_SUMMARY = {"encoder", "task", "metric", "final_layer", "selected_layers", "final_test_mean",
                    "final_test_std", "selected_test_mean", "selected_test_std", "delta_pct",
                    "oracle_layer", "oracle_delta_pct"}

LABELS = (
    "How the choice columns read: a number is one layer (0 = the input embeddings); `3+5` "
    "concatenates those layers; `ens t=T` averages every layer's probe with weights "
    "softmax(CV score / T), the temperature T chosen by the cross-validation inside "
    "`train_val` (`t=inf`: equal weights; `t=0 (k)`: all weight on the CV-best layer k); "
    "`mix a-b` learns a scalar mix of layers a to b. \"mean rel. depth\" is the weight-averaged "
    "relative depth of the choice (0 = embeddings, 1 = final layer), averaged over seeds."
)


def read_table(path: Path, required: set[str]) -> pd.DataFrame:
    """``path`` as a DataFrame, refused (one line) when absent, lacking columns or empty."""
    if not path.is_file():
        raise DataNotFoundError(f"{path} not found; is {path.parent} a molstrata probe run folder?")
    frame = pd.read_csv(path)
    missing = required - set(frame.columns)
    if missing:
        raise ConfigError(f"{path} lacks columns {sorted(missing)}; was it written by molstrata probe?")
    if frame.empty:
        raise ConfigError(f"{path} has no rows")
    return frame


def load(run: Path) -> ProbeContext:
    """The probe run's tables and what the report derives from them."""
    results = read_table(run / "probe_results.csv", REQUIRED_RESULTS)
    summary = read_table(run / "summary.csv", REQUIRED_SUMMARY)
    summary["encoder"] = summary["encoder"].astype(str)
    results["encoder"] = results["encoder"].astype(str)
    return load_probe(run, results, summary)


def _figures(ctx: ProbeContext, figs: Path) -> dict[str, str]:
    """Draw the figures; return ``{file name: caption}`` of those drawn (none is empty)."""
    figs.mkdir(exist_ok=True)
    per, chosen = ctx.per_task, ctx.primary
    drawn = {"depth_curves.png": "score vs relative depth"}
    depth_curves(ctx.results, per, figs / "depth_curves.png", chosen=chosen)
    lim = shared_limit(per["gain_pct"], per["optimism_pct"])
    delta_heatmap(per, figs / "delta_heatmap.png", "gain_pct", lim=lim,
                  title=f"Gain of {chosen} over the final layer, Δ%\n(test scores; chosen without test)",
                  label="Δ% (+: better than the final layer)")
    drawn["delta_heatmap.png"] = f"gain of {chosen} over the final layer"
    delta_heatmap(per, figs / "optimism_heatmap.png", "optimism_pct", lim=lim,
                  title="Optimism of test-picking, Δ%:\noracle layer vs the layer picked on valid",
                  label="Δ% (+: the oracle looks better)")
    drawn["optimism_heatmap.png"] = "optimism of test-picking"
    if weight_heatmap(ctx.weights, figs / "layer_weights.png",
                      f"Weight of each layer in the {chosen} choice (mean over seeds)"):
        drawn["layer_weights.png"] = "weight of each layer"
    depths = weighted_depths(ctx.weights, ctx.n_layers)
    if selected_depth_histogram(depths, figs / "selected_depth_hist.png",
                                f"Where {chosen} puts its weight (n = {len(depths)} (task, seed) pairs)"):
        drawn["selected_depth_hist.png"] = f"depth of the choice, n = {len(depths)} (task, seed) pairs"
    for stale in ("oracle_delta_heatmap.png", "layer_weights.png", "selected_depth_hist.png"):
        if stale not in drawn:  # an older report's figure, not redrawn this time
            (figs / stale).unlink(missing_ok=True)
    return drawn


def probe_section(run: Path, ctx: ProbeContext) -> list[str]:
    """Markdown lines of the probe part of the report (figures drawn into ``run/figures``)."""
    figs = _figures(ctx, run / "figures")
    chosen, per = ctx.primary, ctx.per_task
    combined = any(c in str(v) for v in per["choices"] for c in ("ens", "+", "mix"))
    what = "combining" if combined else "choosing a layer"
    img = {name: f"![{cap}](figures/{name})" for name, cap in figs.items()}
    lines = [
        "Test scores are on TDC's fixed test set, computed once, after the layer (or layer "
        "combination) was chosen without it; mean ± population std over seeds. Δ% is a relative "
        "gain (MAE: `(reference − other) / reference`; others: `(other − reference) / reference`); "
        "in parentheses beside it, the absolute difference `other − reference` in the metric's "
        "units. **≈** marks a task whose difference is smaller than its spread over seeds (the "
        "larger of the two stds): there, the difference is not worth reading.",
        "", "## Overview", "", overview_table(per, chosen), "",
        "## Score vs depth", "", img["depth_curves.png"], "",
        f"## Gain of {what}: {chosen} vs the final layer", "",
        f"What the {chosen} choice (made without the test set) gains over simply using the "
        "final layer.", "", gain_table(per, chosen), "", img["delta_heatmap.png"], "",
    ]
    if combined:
        lines += [LABELS, ""]
    lines += [
        "## Optimism of test-picking: one layer picked on valid vs on test", "",
        "Like with like: both sides are one layer. The **oracle** picks it on the **test** set, "
        "as the paper did; it is shown only to measure how optimistic that is, never to choose. "
        "Same colour scale as the heatmap above.", "",
        optimism_table(per), "", img["optimism_heatmap.png"], "",
    ]
    if "layer_weights.png" in img or "selected_depth_hist.png" in img:
        lines += ["## Which layers the choice uses", ""]
        lines += [img[n] + "\n" for n in ("layer_weights.png", "selected_depth_hist.png") if n in img]
    lines += [
        "## Context: a fingerprint baseline and the state of the art", "",
        "ECFP4: Morgan count fingerprints (radius 2, 2048 bits), the same probe on the same "
        "splits (`baseline.csv`; `molstrata probe --baseline ecfp`, the default). TDC leaderboard "
        "best: rank 1 of TDC's ADMET leaderboard as of the date shown (the shipped "
        "`molstrata/report/data/tdc_leaderboard.csv`, each row with its source URL; later "
        "submissions may score better); a different metric or task is \"not listed\". "
        "Differences are `ours − theirs` in the metric's units.", "",
        context_table(per, chosen), "",
    ]
    control = run / CONTROL_DIR
    twin = (control, load(control)) if (control / "probe_results.csv").is_file() else None
    lines += uncertainty_section(run, ctx, twin) + sota_section(ctx)
    return lines + selection_section(run)
