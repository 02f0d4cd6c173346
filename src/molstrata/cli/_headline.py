"""The probe CLI's headline lines with their uncertainty (issue 21): the across-task mean
Δ% with its 95% t interval over tasks and the Wilcoxon test, the same without the Spearman
tasks, and the random-init twin's Δ (``--control random-twin``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from molstrata.report.stats import format_summary, headline


def print_headline(console: Any, summary: pd.DataFrame, chosen_by: str, control: Any = None) -> None:
    """Print, per encoder of ``summary`` (``summary.csv``'s frame: ``encoder, metric,
    delta_pct``), the headline lines; then those of ``control`` (a ProbeRun) when given."""
    for enc, g in summary.groupby("encoder", sort=False):
        for which, s in headline(g).items():
            console.print(f"  {enc} · {chosen_by} vs final layer, {which} tasks: {format_summary(s)}",
                          highlight=False, soft_wrap=True)
    if control is None or not control.scores:
        return
    from molstrata.probe.outputs import summary_frame

    twin = summary_frame(control.scores)
    for enc, g in twin.groupby("encoder", sort=False):
        for which, s in headline(g).items():
            console.print(f"  CONTROL random-init twin of {enc} · {control.scores[0].strategy} vs its final layer, "
                          f"{which} tasks: {format_summary(s)}", highlight=False, soft_wrap=True)
