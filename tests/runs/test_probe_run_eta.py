"""Issue 20, progress: a probe run's bars show its overall ETA (phases planned by
:mod:`molstrata.runs._eta`, fed by the bars), and the rates it measured are saved so that the
next run with the same encoder and probe settings has an ETA from its first bar."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

from rich.console import Console

from molstrata.core import progress
from molstrata.runs import sweep


def _lines(buffer: io.StringIO) -> list[str]:
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    return [line for line in re.split(r"[\r\n]", text) if line.strip()]


def test_the_run_shows_its_eta_and_saves_its_rates(hash_encoder, data_dir, tmp_path, monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(progress, "stderr_console",
                        lambda: Console(file=buffer, width=80, force_terminal=True))
    run = dict(data_dir=data_dir, report=False, progress=True, strategy="ensemble", baseline="ecfp")
    sweep([hash_encoder], "caco2_wang", [1], out=tmp_path / "a", **run)
    first = _lines(buffer)
    assert first and all(len(line) <= 80 for line in first), first
    phases = {m[1] for line in first if (m := re.match(r"(\d/4 \w+)", line))}
    assert phases >= {"2/4 probing", "3/4 selecting", "4/4 baseline"}, phases
    assert all(re.search(r"run \d:\d\d:\d\d ETA (\?|<1m|>\d+m|~\d+m)$", line.rstrip())
               for line in first if re.match(r"\d/4 ", line)), first
    rates = json.loads((Path(os.environ["MOLSTRATA_CACHE_DIR"]) / "eta_rates.json").read_text())
    (saved,) = rates.values()
    assert {"probing", "selecting", "baseline"} <= set(saved), saved
    buffer.seek(0)
    buffer.truncate()
    sweep([hash_encoder], "caco2_wang", [2], out=tmp_path / "b", **run)
    probing = [line for line in _lines(buffer) if line.startswith("2/4 probing")]
    assert probing and "ETA ?" not in probing[0], probing  # known from its first bar
