"""``molstrata report DIR``: rebuild figures and report.md of a run from its tables."""

from __future__ import annotations

from pathlib import Path

import typer


def report_command(
    run_dir: Path = typer.Argument(..., help="A run folder written by molstrata probe, analyze or finetune (or several of them)."),
) -> None:
    """Redraw figures/, report.md and report.html from a run folder's tables."""
    from rich.console import Console

    from molstrata.report import build_report

    path = build_report(run_dir)
    Console(stderr=True).print(f"wrote {path}, {path.parent / 'report.html'} and {path.parent / 'figures'}/")


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``molstrata`` app."""
    app.command("report")(report_command)
