"""Run folders through the CLI: another run in --out is refused without --overwrite, and
--overwrite removes only molstrata's files of the old run, so no stale output remains."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from molstrata.cli import app


def _invoke(*args):
    return CliRunner().invoke(app, [*map(str, args)])


def test_embed_fewer_layers_over_more(tiny_roberta_dir, data_dir, tmp_path):
    out = tmp_path / "emb"
    base = ["embed", "--encoder", tiny_roberta_dir, "--task", "caco2_wang", "--data-dir", data_dir,
            "--out", out]
    assert _invoke(*base).exit_code == 0
    assert (out / "layer_003.npy").is_file()
    (out / "my_notes.txt").write_text("keep me")
    refused = _invoke(*base, "--max-layer", 1)
    assert refused.exit_code != 0 and "--overwrite" in str(refused.exception)
    assert "max_layer" in str(refused.exception)
    assert (out / "layer_003.npy").is_file()  # untouched
    done = _invoke(*base, "--max-layer", 1, "--overwrite")
    assert done.exit_code == 0, done.output + repr(done.exception)
    assert sorted(p.name for p in out.glob("layer_*")) == ["layer_000.npy", "layer_001.npy"]
    assert json.loads((out / "manifest.json").read_text())["n_layers"] == 2
    assert (out / "my_notes.txt").read_text() == "keep me"
    assert json.loads((out / "run.json").read_text())["settings"]["max_layer"] == 1


def test_probe_one_task_over_two(tiny_roberta_dir, data_dir, tmp_path):
    out = tmp_path / "probe"
    base = ["probe", "--encoder", tiny_roberta_dir, "--seeds", "1", "--selection", "valid",
            "--no-report", "--data-dir", data_dir, "--out", out]
    assert _invoke(*base, "--tasks", "hia_hou,caco2_wang").exit_code == 0
    refused = _invoke(*base, "--tasks", "caco2_wang")
    assert refused.exit_code != 0 and "--overwrite" in str(refused.exception)
    done = _invoke(*base, "--tasks", "caco2_wang", "--overwrite")
    assert done.exit_code == 0, done.output + repr(done.exception)
    assert sorted(p.name for p in (out / "predictions").iterdir()) == ["caco2_wang_seed1.csv"]
    assert set(pd.read_csv(out / "probe_results.csv")["task"]) == {"caco2_wang"}


def test_failed_start_leaves_nothing(tiny_roberta_dir, tmp_path):
    out = tmp_path / "probe"
    failed = _invoke("probe", "--encoder", tiny_roberta_dir, "--tasks", "caco2_wang", "--seeds", "1",
                     "--data-dir", tmp_path / "missing", "--out", out)
    assert failed.exit_code != 0
    assert not out.exists()
    failed = _invoke("finetune", "--encoder", tiny_roberta_dir, "--task", "caco2_wang", "--seeds", "1",
                     "--data-dir", tmp_path / "missing", "--out", out, "--device", "cpu")
    assert failed.exit_code != 0
    assert not out.exists()


def test_old_run_without_record_is_refused(tmp_path):
    from molstrata.runs._record import build_record, prepare_out

    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.csv").write_text("user,table\n")  # not molstrata's: no config.toml
    record = build_record("probe", {"probe": "linear"}, {})
    import pytest

    from molstrata.core.errors import ConfigError

    with pytest.raises(ConfigError, match="not a molstrata run"):
        prepare_out(out, record, overwrite=True)
    assert (out / "summary.csv").is_file()
