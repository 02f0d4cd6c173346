"""Issue 20, logging and progress: warnings as one ``warning:`` line each, said once, with
no source path; ``-q``/``-v``; progress bars labelled with the run's phase, within 80
columns."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
from rich.console import Console

import molstrata
from molstrata.core import log, progress

SRC = str(Path(molstrata.__file__).resolve().parents[1])  # the molstrata under test


def _warn_twice() -> None:
    for _ in range(2):
        warnings.warn("the same thing", UserWarning, stacklevel=1)
    warnings.warn("the same thing", UserWarning, stacklevel=1)  # another line, same text
    warnings.warn("a deprecation", FutureWarning, stacklevel=1)


def test_warnings_go_through_logging_once_without_paths():
    stream = io.StringIO()
    log.setup_logging(logging.INFO, stream=stream)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            _warn_twice()
        logging.getLogger("molstrata.x").info("an info line")
        logging.getLogger("molstrata.x").debug("a debug line")
    finally:
        log.teardown_logging()
    lines = stream.getvalue().splitlines()
    assert lines == ["warning: the same thing", "warning: FutureWarning: a deprecation",
                     "info: an info line"]
    assert logging.getLogger("py.warnings").handlers == []  # undone


def test_verbosity_levels():
    assert log.verbosity_level(0, 0) == logging.INFO
    assert log.verbosity_level(1, 0) == logging.DEBUG
    assert log.verbosity_level(0, 1) == logging.WARNING
    assert log.verbosity_level(0, 2) == logging.ERROR


def test_cli_warning_is_one_clean_line(tiny_roberta_dir, tmp_path):
    path = tmp_path / "long.csv"
    pd.DataFrame({"smiles": ["CCO", "C" * 30, "C" * 31]}).to_csv(path, index=False)
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200"}
    base = [sys.executable, "-m", "molstrata.cli"]
    args = ["embed", "-e", str(tiny_roberta_dir), "-i", str(path), "--max-length", "16"]
    done = subprocess.run([*base, *args, "-o", str(tmp_path / "a")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "longer than" in line]
    assert len(said) == 1 and said[0].startswith("warning: 2 input(s) longer than"), done.stderr
    assert "UserWarning" not in done.stderr and ".py:" not in done.stderr
    quiet = subprocess.run([*base, "-qq", *args, "-o", str(tmp_path / "b")], capture_output=True,
                           text=True, env=env, timeout=300)
    assert quiet.returncode == 0 and "longer than" not in quiet.stderr, quiet.stderr


def test_progress_shows_the_phase_within_80_columns(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(progress, "stderr_console",
                        lambda: Console(file=buffer, width=80, force_terminal=True))
    with progress.phase(2, 3, "probing"):
        with progress.progress("probing a-very-long-encoder-name-indeed (linear)", 770) as bar:
            bar.advance(10, description="probing: seed 1 · cyp2c9_substrate_carbonmangels")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    lines = [line for line in re.split(r"[\r\n]", text) if line.strip()]
    assert lines and all(len(line) <= 80 for line in lines), lines
    assert any(line.startswith("2/3 probing: seed 1 · cyp2c9") for line in lines), lines
    assert any("10/770" in line and "run 0:00:0" in line for line in lines), lines


def test_later_phases_count_the_run_from_phase_one(monkeypatch):
    clock = iter([1000.0, 1900.0, 2500.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with progress.phase(1, 3, "embedding"):
        pass
    with progress.phase(2, 3, "probing"):
        assert progress._PHASE.get()[3] == 1000.0  # not phase 2's own start
    with progress.phase(3, 3, "selecting"):
        assert progress._PHASE.get()[3] == 1000.0
    with progress.phase(2, 3, "probing"):  # another run's, with no phase 1: its own start
        assert progress._PHASE.get()[3] == 1900.0
