"""``molstrata report DIR``: rebuild figures and report.md of a run from its tables."""

from __future__ import annotations

from pathlib import Path

import typer


def report_command(
    run_dir: Path = typer.Argument(..., help="A run folder written by molstrata probe, analyze or finetune (or several of them)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write figures/, report.md and report.html here (the tables are copied) instead of into RUN_DIR."),
) -> None:
    """Redraw figures/, report.md and report.html from a run folder's tables."""
    from rich.console import Console

    from molstrata.report.build import build_report, build_report_into

    path = build_report(run_dir) if out is None else build_report_into(run_dir, out)
    Console(stderr=True).print(f"wrote {path}, {path.parent / 'report.html'} and {path.parent / 'figures'}/")


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``molstrata`` app."""
    app.command("report")(report_command)
