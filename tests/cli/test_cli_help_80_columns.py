"""Issue 20, help: every command's ``--help`` fits 80 columns whole, through
:func:`molstrata.cli.main`: no option name or help word cut with "…" (``--selection,--strate…``,
``smiles/SMILES/Smiles/Dr…`` before), and an option's aliases are still named."""

from __future__ import annotations

import sys

import pytest

COMMANDS = [[], ["tasks"], ["encoders"], ["embed"], ["analyze"], ["probe"], ["predict"],
            ["finetune"], ["report"], ["pretrain"], ["pretrain", "smiles"], ["pretrain", "graph"]]


def _help(monkeypatch, capsys, args: list[str]) -> str:
    from molstrata.cli import main

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys, "argv", ["molstrata", *args, "--help"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code in (0, None)
    return capsys.readouterr().out


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "root")
def test_help_fits_80_columns_whole(args, monkeypatch, capsys):
    text = _help(monkeypatch, capsys, args)
    lines = text.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    assert "…" not in text, [line for line in lines if "…" in line]


def test_an_alias_is_named_in_the_help(monkeypatch, capsys):
    text = " ".join(_help(monkeypatch, capsys, ["probe"]).split())
    assert "(also --strategy)" in text.replace("│ ", "")
