"""``molstrata report DIR``: rebuild figures and report.md of a run from its tables."""

from __future__ import annotations

from pathlib import Path

import typer


def report_command(
    run_dir: Path = typer.Argument(..., help="A run folder written by molstrata probe."),
) -> None:
    """Redraw figures/ and report.md from probe_results.csv and summary.csv."""
    from rich.console import Console

    from molstrata.report import build_report

    path = build_report(run_dir)
    Console(stderr=True).print(f"wrote {path} and {path.parent / 'figures'}/")


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``molstrata`` app."""
    app.command("report")(report_command)
