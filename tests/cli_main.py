"""``molstrata ARGS`` through :func:`molstrata.cli.main`, as the installed script runs it."""

from __future__ import annotations

import sys


def run_main(monkeypatch, capsys, *args) -> tuple[int, str]:
    """Run ``molstrata ARGS`` through ``main()``; return (exit code, stderr)."""
    from molstrata.cli import main

    monkeypatch.setattr(sys, "argv", ["molstrata", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err
