"""Issue 20, logging: ``-v``/``-q`` work before the command and after it (``molstrata probe
... -q``, as a newcomer types it), with the same effect, through :func:`molstrata.cli.main`."""

from __future__ import annotations

import logging
import sys

import pytest

from cli_main import run_main


@pytest.mark.parametrize(("args", "level"), [
    (["-q", "encoders"], logging.WARNING),
    (["encoders", "-q"], logging.WARNING),
    (["encoders", "--quiet", "-q"], logging.ERROR),
    (["encoders", "-qq"], logging.ERROR),
    (["-v", "encoders"], logging.DEBUG),
    (["encoders", "--verbose"], logging.DEBUG),
    (["encoders"], logging.INFO),
])
def test_verbosity_flags_before_or_after_the_command(args, level, monkeypatch, capsys):
    import molstrata.core.log as log

    levels: list[int] = []
    real = log.setup_logging

    def spy(lvl: int = logging.INFO, stream=None) -> None:
        levels.append(lvl)
        real(lvl, stream)

    monkeypatch.setattr(log, "setup_logging", spy)
    code, err = run_main(monkeypatch, capsys, *args)
    assert code == 0, err
    assert levels == [level]


def test_a_value_after_double_dash_is_left_alone():
    from molstrata.cli._options import verbosity_first

    assert verbosity_first(["probe", "-t", "x", "-q", "--", "-q"]) == ["-q", "probe", "-t", "x", "--", "-q"]
    assert verbosity_first(["-v", "--version"]) == ["-v", "--version"]


def test_every_command_help_names_the_verbosity_flags(monkeypatch, capsys):
    from molstrata.cli import main

    for command in (["probe"], ["embed"], ["pretrain", "smiles"], ["report"]):
        monkeypatch.setattr(sys, "argv", ["molstrata", *command, "--help"])
        with pytest.raises(SystemExit):
            main()
        text = " ".join(capsys.readouterr().out.split())
        assert "-q/--quiet" in text and "before the command" in text, command
