"""Issue 20, CLI flags and help, through the real entry point: ``--version``, ``-o`` on every
command, the one seed parser, ``--trust-remote-code`` and ``--on-invalid`` where an encoder
is loaded, help without ``<bool>`` and with the registries' choices."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import molstrata
from molstrata.cli import app
from molstrata.core.errors import ConfigError
from molstrata.core.seed import parse_seeds

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
ENCODER_COMMANDS = [["embed"], ["analyze"], ["probe"], ["predict"], ["finetune"]]
ALL_COMMANDS = [["tasks"], ["encoders"], *ENCODER_COMMANDS, ["report"], ["pretrain", "smiles"],
                ["pretrain", "graph"]]


def _help(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


def test_version_through_python_m():
    done = subprocess.run([sys.executable, "-m", "molstrata.cli", "--version"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["molstrata", molstrata.__version__]


@pytest.mark.parametrize("command", [["embed"], ["analyze"], ["probe"], ["predict"], ["finetune"],
                                     ["pretrain", "smiles"], ["pretrain", "graph"]])
def test_out_has_the_short_flag_everywhere(command):
    assert re.search(r"--out\s+-o\b", _help(*command)), command


@pytest.mark.parametrize("text,message", [
    ("-1", "--seeds: seeds must be >= 0"),
    ("5-1", "--seeds: the range '5-1' is reversed"),
    ("1,2,1", "--seeds: seed 1 is given twice"),
    ("1-3,2", "--seeds: seed 2 is given twice"),
    ("1,x", "--seeds: 'x' is not an integer"),
])
def test_seed_parser_refuses_with_the_flag_named(text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_seeds(text)


def test_seed_parser_takes_ranges_and_warns_outside_tdc(caplog):
    assert parse_seeds("1-3,5") == [1, 2, 3, 5]
    with caplog.at_level(logging.WARNING, logger="molstrata"):
        assert parse_seeds("4-7") == [4, 5, 6, 7]
    assert "seed(s) 6, 7 outside TDC's benchmark seeds 1-5" in caplog.text
    with pytest.raises(ConfigError, match="--seeds: seeds must be >= 0"):
        parse_seeds([1, -2])


def test_seeds_of_weights_are_not_warned_about_as_split_seeds(caplog):
    with caplog.at_level(logging.WARNING, logger="molstrata"):
        assert parse_seeds("0-2", flag="--twin-seeds", split=False) == [0, 1, 2]
    assert "outside TDC" not in caplog.text


def test_finetune_and_probe_share_the_seed_parser(monkeypatch, tmp_path):
    import molstrata.runs.finetune as ft
    import molstrata.runs.probe as pr

    seen = {}

    def fake_finetune(encoder, tasks, **kw):
        seen["finetune"] = kw["seeds"]
        raise SystemExit(0)

    def fake_sweep(encoder, tasks, seeds, **kw):
        seen["probe"] = parse_seeds(seeds)
        raise SystemExit(0)

    monkeypatch.setattr(ft, "run_finetune_tasks", fake_finetune)
    monkeypatch.setattr(pr, "sweep", fake_sweep)
    for cmd in (["finetune", "-t", "hia_hou"], ["probe", "-t", "hia_hou"]):
        result = runner.invoke(app, [*cmd, "-s", "1-5", "-o", str(tmp_path / cmd[0])])
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, [*cmd, "-s", "3-1", "-o", str(tmp_path / cmd[0])])
        assert isinstance(result.exception, ConfigError), result.output
        assert "--seeds: the range '3-1' is reversed" in str(result.exception)
    assert seen == {"finetune": [1, 2, 3, 4, 5], "probe": [1, 2, 3, 4, 5]}


@pytest.mark.parametrize("command", ENCODER_COMMANDS)
def test_trust_remote_code_wherever_an_encoder_is_loaded(command):
    assert "--trust-remote-code" in _help(*command)


@pytest.mark.parametrize("command,runner_module,entry", [
    (["probe", "-t", "hia_hou", "-s", "1"], "molstrata.runs.probe", None),
    (["analyze", "-t", "hia_hou"], "molstrata.runs.analyze", None),
    (["finetune", "-t", "hia_hou", "-s", "1", "--device", "cpu"], "molstrata.runs.finetune", None),
])
def test_trust_remote_code_reaches_load_encoder(command, runner_module, entry, monkeypatch,
                                                tmp_path, data_dir):
    import molstrata.encoders

    class Stop(Exception):
        pass

    seen = {}

    def fake_load(name, **kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(molstrata.encoders, "load_encoder", fake_load)
    result = runner.invoke(app, [*command, "-e", "molformer-xl", "--trust-remote-code",
                                 "--data-dir", str(data_dir), "-o", str(tmp_path / "o")])
    assert isinstance(result.exception, Stop), result.output
    assert seen.get("trust_remote_code") is True


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_help_shows_no_bool_metavar(command):
    assert "<bool>" not in _help(*command)


def test_root_help_and_markup():
    assert "<bool>" not in _help()
    for command in (["probe"], ["embed"], ["finetune"]):
        assert "pip install 'molstrata[ray]'" in " ".join(_help(*command).split()), command


def test_selection_default_reads_ensemble():
    text = _help("probe")
    row = text[text.index("--selection"):text.index("--cv-folds")]
    assert "[default: ensemble]" in row and "molstrata." not in row


def test_choices_come_from_the_registries(monkeypatch):
    from molstrata.encoders.pooling import Pooling
    from molstrata.probe import estimators

    monkeypatch.setitem(estimators.PROBE_CLASSES, "zzprobe", object)
    text = " ".join(_help("probe").split())
    for name in estimators.PROBE_CLASSES:
        assert name in text[text.index("--probe"):text.index("--out")], name
    for command in (["probe"], ["embed"], ["analyze"], ["finetune"]):
        text = " ".join(_help(*command).split())
        row = text[text.index("--pooling"):]
        assert all(p.value in row[:200] for p in Pooling), command


def test_encoders_table_keeps_names_whole_at_80_columns():
    from molstrata.encoders.registry import registered_names

    result = runner.invoke(app, ["encoders"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    words = set(result.output.split())
    assert set(registered_names()) <= words, set(registered_names()) - words
    assert "default" in words
    wide = runner.invoke(app, ["encoders", "--wide"], env={"COLUMNS": "80"})
    assert wide.exit_code == 0 and set(registered_names()) <= set(wide.output.split())


@pytest.mark.parametrize("command,flag", [(["embed"], "--seed"), (["embed"], "--init-seed"),
                                          (["analyze"], "--seed"), (["pretrain", "smiles"], "--seed"),
                                          (["pretrain", "graph"], "--seed")])
def test_single_seeds_refuse_negatives(command, flag, tmp_path):
    result = runner.invoke(app, [*command, flag, "-1", "-o", str(tmp_path)], env=WIDE)
    assert result.exit_code == 2 and flag in result.output, result.output


@pytest.mark.parametrize("python,cli", [
    ("Fix them, or pass on_invalid='mask' to keep", "Fix them, or pass --on-invalid mask to keep"),
    ("Pass on_too_long='warn' to cut them", "Pass --on-too-long warn to cut them"),
    ("load it only with trust_remote_code=True (CLI: --trust-remote-code) if",
     "load it only with --trust-remote-code if"),
    ("load only with trust_checkpoint=True (--trust-checkpoint).", "load only with --trust-checkpoint."),
])
def test_error_texts_name_cli_flags(python, cli):
    from molstrata.cli._options import cli_message

    assert cli_message(python) == cli
