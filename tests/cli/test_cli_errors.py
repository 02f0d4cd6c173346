"""Issue 20, errors: one ``error:`` line and exit code 2 through ``python -m molstrata.cli``,
never a traceback: a 0-byte CSV, an unknown encoder (with "did you mean"), and a hub id that
is not cached while the hub cannot be used (fast)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import molstrata
from molstrata.core.errors import DataNotFoundError

SRC = str(Path(molstrata.__file__).resolve().parents[1])  # the molstrata under test


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    full = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200", **(env or {})}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "molstrata.cli", *args], capture_output=True,
                          text=True, env=full, timeout=300)
    return done, time.perf_counter() - start


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["embed", "-e", "default"], ["analyze", "-e", "default"]])
def test_empty_csv_is_one_line(command, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    done, _ = _cli(*command, "-i", str(empty), "-o", str(tmp_path / "out"))
    line = _one_error_line(done)
    assert str(empty) in line and "empty" in line


def test_unknown_encoder_suggests_the_close_name(tmp_path):
    (tmp_path / "x.csv").write_text("smiles\nCCO\n")
    done, _ = _cli("embed", "-e", "molstrata-smile", "-i", str(tmp_path / "x.csv"),
                   "-o", str(tmp_path / "out"))
    line = _one_error_line(done)
    assert "unknown encoder 'molstrata-smile'" in line and "Did you mean 'molstrata-smiles'" in line


def test_uncached_hub_id_offline_fails_at_once(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HOME": str(tmp_path / "hf")}
    done, seconds = _cli("probe", "-e", "nobody/no-such-model", "-t", "hia_hou", "-s", "1",
                         "-o", str(tmp_path / "out"), env=env)
    line = _one_error_line(done)
    assert "nobody/no-such-model" in line and "HF_HUB_OFFLINE" in line
    assert seconds < 30  # the process, imports included; the check itself: below


@pytest.mark.parametrize("offline", [True, False])
def test_uncached_hub_id_check_takes_under_3_s(offline, tmp_path, monkeypatch):
    """In process, with the hub offline, or online at a loopback port nobody listens on."""
    from huggingface_hub import constants

    from molstrata.encoders import load_encoder

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(DataNotFoundError, match="nobody/no-such-model"):
        load_encoder("nobody/no-such-model", device="cpu")
    assert time.perf_counter() - start < 3
