"""The ``molstrata`` command line (Typer).

Each sub-command lives in its own module under ``molstrata.cli`` and registers itself on
``app`` through ``register(app)``; :data:`SUBCOMMANDS` lists them in help order (chemprop's
pattern). A command parses its options, calls one stage's entry function, and writes results.
User mistakes (any :class:`~molstrata.core.errors.MolstrataError`) and storage faults (any
:class:`OSError`: read-only folder, full disk...) print one red line and exit with code 2,
never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from molstrata.cli._options import Group, cli_message, polish_help

SUBCOMMANDS = ["tasks", "encoders", "embed", "analyze", "probe", "predict", "finetune", "report", "pretrain"]

app = typer.Typer(
    name="molstrata",
    help="Take pretrained molecular encoders apart layer by layer, and choose layers honestly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,
)


def _print_version(value: bool) -> None:
    if value:
        from molstrata import __version__

        typer.echo(f"molstrata {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the version and exit."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More messages (debug); before or after the command."),
    quiet: int = typer.Option(0, "--quiet", "-q", count=True,
                              help="Warnings and errors only, no progress bars; -qq: errors only."),
) -> None:
    """Route logging and Python warnings to stderr, one line each, said once (-v/-q)."""
    from molstrata.core.log import setup_logging, teardown_logging, verbosity_level

    setup_logging(verbosity_level(verbose, quiet))
    ctx.call_on_close(teardown_logging)


for _name in SUBCOMMANDS:
    importlib.import_module(f"molstrata.cli.{_name}").register(app)
polish_help(app)


def main() -> None:
    """Entry point of the ``molstrata`` script."""
    from molstrata.core.errors import MolstrataError

    try:
        app()
    except (MolstrataError, OSError) as exc:  # user mistakes and storage faults: one line
        from rich.console import Console

        if isinstance(exc, OSError) and not isinstance(exc, MolstrataError):
            from molstrata.core.files import storage_error

            where = exc.filename or exc.filename2
            exc = storage_error(exc, where) if where else exc
        from rich.markup import escape

        Console(stderr=True).print(f"[bold red]error:[/] {escape(cli_message(str(exc)))}",
                                   highlight=False, soft_wrap=True)
        sys.exit(2)
