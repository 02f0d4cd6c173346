"""The analyze part of ``report.md``, rebuilt from ``layer_metrics.csv`` when the folder's
``report.md`` lost the section that ``molstrata analyze`` wrote."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from molstrata.analysis.figures import plot_metrics
from molstrata.analysis.outputs import markdown_table
from molstrata.core.errors import ConfigError

_COLUMNS = {"encoder", "layer", "relative_depth", "metric", "value"}


def analysis_section(run: Path) -> list[str]:
    """Markdown lines: the label-free metrics per layer (wide table) and their figure."""
    metrics = pd.read_csv(run / "layer_metrics.csv")
    missing = _COLUMNS - set(metrics.columns)
    if missing:
        raise ConfigError(f"{run / 'layer_metrics.csv'} lacks columns {sorted(missing)}; "
                          "was it written by molstrata analyze?")
    lines = ["## Information flow across depth (molstrata analyze)", ""]
    if metrics.empty:
        return [*lines, "`layer_metrics.csv` has no rows.", ""]
    (run / "figures").mkdir(exist_ok=True)
    plot_metrics(metrics, run / "figures" / "layer_metrics.png")
    for enc, g in metrics.groupby("encoder", sort=False):
        wide = g.pivot_table(index=["layer", "relative_depth"], columns="metric", values="value")
        lines += [f"### {enc}", "", markdown_table(wide), ""]
    return [*lines, "![metrics across depth](figures/layer_metrics.png)", ""]
