"""``molstrata probe --control random-twin`` (issue 21): the same strategy on the encoder's
random-init twin, its own cache key, its Δ beside the pretrained one in the report and the
printed summary; the twin's seed recorded in ``config.toml``."""

from __future__ import annotations

import contextlib
import io
import tomllib
from types import SimpleNamespace

import pandas as pd
import pytest

from cli_main import run_main


@pytest.fixture(scope="module")
def control_run(tiny_roberta_dir, data_dir, tmp_path_factory):
    """One probe run with the control, through ``molstrata.cli.main``: (out, cache, stderr)."""
    cache = tmp_path_factory.mktemp("control_cache")
    out = tmp_path_factory.mktemp("control") / "run"
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err):
        mp.setenv("MOLSTRATA_CACHE_DIR", str(cache))
        code, _ = run_main(mp, _StringCapture(err), "probe", "--encoder", tiny_roberta_dir, "--tasks", "hia_hou",
                           "--seeds", "1,2", "--out", out, "--data-dir", data_dir, "--baseline", "none",
                           "--control", "random-twin", "--control-seed", "3")
    assert code == 0, err.getvalue()
    return out, cache, err.getvalue()


class _StringCapture:
    """capsys's ``readouterr().err`` over a StringIO (capsys is function-scoped)."""

    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer = buffer

    def readouterr(self) -> SimpleNamespace:
        return SimpleNamespace(err=self.buffer.getvalue())


def test_control_tables_and_config(control_run):
    out, _, _ = control_run
    twin = out / "control_random-twin"
    assert (twin / "summary.csv").is_file() and (twin / "selection_seeds.csv").is_file()
    mine = pd.read_csv(out / "probe_results.csv")
    theirs = pd.read_csv(twin / "probe_results.csv")
    assert len(mine) == len(theirs)  # same tasks, seeds, layers, splits
    assert not mine["score"].equals(theirs["score"])  # other weights, other scores
    # the same strategy on both (the default: ensemble)
    assert set(pd.read_csv(twin / "selection_seeds.csv")["strategy"]) == {"ensemble"}
    params = tomllib.loads((out / "config.toml").read_text())["params"]
    assert params["control"] == "random-twin" and params["control_seed"] == 3


def test_control_has_its_own_cache_key(control_run):
    _, cache, _ = control_run
    # one cache entry per encoder identity: the pretrained weights and the twin's
    entries = [p for p in (cache / "embeddings").iterdir() if p.is_dir()]
    assert len(entries) == 2


def test_control_printed(control_run):
    err = " ".join(control_run[2].split())  # rich may wrap long lines
    assert "ensemble vs final layer, all tasks: " in err and "Wilcoxon signed-rank" in err
    assert "CONTROL random-init twin of " in err


def test_control_in_report(control_run):
    out, _, _ = control_run
    text = (out / "report.md").read_text()
    assert "CONTROL random-init twin, ensemble vs its final layer, all tasks:" in text
    assert "| random twin Δ% |" in text
    assert "random-init twin: not run" not in text


def test_rerun_without_control_drops_it(control_run, data_dir, tiny_roberta_dir, monkeypatch, capsys, tmp_path):
    out, cache, _ = control_run
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(cache))
    code, err = run_main(monkeypatch, capsys, "-q", "probe", "--encoder", tiny_roberta_dir, "--tasks", "hia_hou",
                         "--seeds", "1,2", "--out", out, "--data-dir", data_dir, "--baseline", "none")
    assert code == 0, err
    assert not (out / "control_random-twin").exists()
    assert "random-init twin: not run" in (out / "report.md").read_text()


def test_bad_control_value(monkeypatch, capsys, tmp_path, tiny_roberta_dir):
    code, err = run_main(monkeypatch, capsys, "probe", "--encoder", tiny_roberta_dir, "--tasks", "hia_hou",
                         "--seeds", "1", "--out", tmp_path / "x", "--control", "shuffled")
    assert code == 2
    assert "control" in err and "shuffled" in err
    assert not (tmp_path / "x").exists()
