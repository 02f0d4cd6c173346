"""``report.md`` of a probe run, rebuilt from its tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from molstrata.core.config import load_config
from molstrata.core.errors import ConfigError, DataNotFoundError
from molstrata.core.files import atomic_write
from molstrata.report.figures import delta_heatmap, depth_curves, selected_depth_histogram
from molstrata.report.selection import selection_section
from molstrata.report.tables import overview_table, summary_table

_REQUIRED_RESULTS = {"encoder", "task", "metric", "layer", "seed", "split", "score"}
_REQUIRED_SUMMARY = {"encoder", "task", "metric", "final_layer", "selected_layers", "final_test_mean",
                     "final_test_std", "selected_test_mean", "selected_test_std", "delta_pct",
                     "oracle_layer", "oracle_delta_pct"}


def _read(path: Path, required: set[str]) -> pd.DataFrame:
    if not path.is_file():
        raise DataNotFoundError(f"{path} not found; is {path.parent} a molstrata probe run folder?")
    frame = pd.read_csv(path)
    missing = required - set(frame.columns)
    if missing:
        raise ConfigError(f"{path} lacks columns {sorted(missing)}; was it written by molstrata probe?")
    if frame.empty:
        raise ConfigError(f"{path} has no rows")
    return frame


def _strategies(value) -> str:
    """config.toml's ``strategy``: one name (older runs) or a list."""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def build_report(run_dir: str | Path) -> Path:
    """Write ``figures/*.png`` and ``report.md`` for the probe run in ``run_dir``.

    Reads ``probe_results.csv``, ``summary.csv`` and (if present) ``config.toml`` and
    ``notes.txt``; computes no score. Returns the path of ``report.md``.
    """

    run = Path(run_dir)
    if not run.is_dir():
        raise DataNotFoundError(f"{run}: no such run folder")
    results = _read(run / "probe_results.csv", _REQUIRED_RESULTS)
    summary = _read(run / "summary.csv", _REQUIRED_SUMMARY)
    summary["encoder"] = summary["encoder"].astype(str)
    results["encoder"] = results["encoder"].astype(str)
    n_layers = {str(e): int(g["layer"].max()) + 1 for e, g in results.groupby("encoder")}
    _figures(results, summary, n_layers, run / "figures")

    cfg: dict = {}
    if (run / "config.toml").is_file():
        cfg = load_config(run)
    params = cfg.get("params", {})
    seeds = sorted(results["seed"].unique().tolist())
    encoders = list(dict.fromkeys(summary["encoder"]))
    lines = [
        f"# Layer-wise probe report: {', '.join(encoders)}",
        "",
        f"- probe: **{params.get('probe', '?')}**, selection: **{_strategies(params.get('strategy', 'valid'))}** "
        f"(never on test; the tables below show "
        f"**{params.get('primary_selection', _strategies(params.get('strategy', 'valid')))}**)",
        f"- tasks: {summary['task'].nunique()}, seeds: {', '.join(map(str, seeds))}, "
        f"layers: {', '.join(f'{e}: {n}' for e, n in n_layers.items())}",
        f"- pooling: {params.get('pooling') or 'encoder default'}; molstrata "
        f"{cfg.get('molstrata', {}).get('version', '?')}, written {cfg.get('molstrata', {}).get('written', '?')}",
        "",
        "Test scores are on TDC's fixed test set, computed once, after the layer (or layer "
        "combination) was chosen without it (validation split, or CV inside train_val); mean ± population std over seeds. Δ% is the relative gain of the selected "
        "layers over the final layer (MAE: `(final − selected) / final`; others: "
        "`(selected − final) / final`). The **oracle** columns pick the layer on the **test** set, "
        "as the paper did; they are shown only to measure how optimistic that is, never to choose.",
        "",
        "## Overview",
        "",
        overview_table(summary),
        "",
        "## Score vs depth",
        "",
        "![score vs relative depth](figures/depth_curves.png)",
        "",
        "## Δ% over the final layer",
        "",
        "![delta heatmap](figures/delta_heatmap.png)",
        "",
        "For comparison only, the test-picked oracle:",
        "",
        "![oracle delta heatmap](figures/oracle_delta_heatmap.png)",
        "",
        "## Depth of the selected layers",
        "",
        "![selected depth histogram](figures/selected_depth_hist.png)",
        "",
        "## Per task",
        "",
        summary_table(summary, n_layers),
        "",
    ]

    lines += selection_section(run)
    lines += _notes_and_files(run)
    path = run / "report.md"

    return atomic_write(path, "\n".join(lines), cache=False)


def _figures(results: pd.DataFrame, summary: pd.DataFrame, n_layers: dict[str, int], figs: Path) -> None:
    """Draw the report's four figures into ``figs``."""
    figs.mkdir(exist_ok=True)
    depth_curves(results, summary, figs / "depth_curves.png")
    delta_heatmap(summary, figs / "delta_heatmap.png")
    delta_heatmap(summary, figs / "oracle_delta_heatmap.png", column="oracle_delta_pct",
                  title="ORACLE Δ% (layer picked on TEST, as in the paper; optimistic)")
    selected_depth_histogram(summary, n_layers, figs / "selected_depth_hist.png")


def _notes_and_files(run: Path) -> list[str]:
    """The report's ``Notes`` (from ``notes.txt``) and ``Files`` sections, as lines."""
    notes_file = run / "notes.txt"
    notes = [n for n in notes_file.read_text().splitlines() if n.strip()] if notes_file.is_file() else []
    lines = ["## Notes", ""]
    lines += [f"- {n}" for n in notes] if notes else ["- every molecule was embedded; no row was left out."]
    lines += [
        "",
        "## Files",
        "",
        "`probe_results.csv` (every layer, seed and split), `summary.csv`, `leaderboard.json` "
        "(PyTDC `evaluate_many` form, selected layers), `predictions/<task>_seed<s>.csv` "
        "(test `Drug_ID`, `Y`, `Y_pred` of the selected layer), `probe_params.csv` (regularisation "
        "chosen on valid), `config.toml` (rerun with the same options).",
        "",
    ]
    return lines
