"""A finetune resume on changed data is refused (naming the file and its old and new
sha256); with --overwrite the run starts over and equals a clean one."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from altered_data import altered_data_dir

OPTS = ["--task", "hia_hou", "--seeds", "1", "--lrs", "1e-3", "--epochs", "1", "--batch-size", "32",
        "--layers", "1", "--device", "cpu"]


def _finetune(encoder_dir, data, out, *extra):
    from molstrata.cli import app

    return CliRunner().invoke(app, ["finetune", "--encoder", str(encoder_dir), *OPTS,
                                    "--data-dir", str(data), "--out", str(out), *extra])


def test_changed_labels_refused_then_overwritten(tiny_roberta_dir, data_dir, tmp_path):
    flipped = altered_data_dir(data_dir, tmp_path / "flipped", "hia_hou", lambda y: 1 - y)
    out, clean = tmp_path / "run", tmp_path / "clean"
    assert _finetune(tiny_roberta_dir, flipped, out).exit_code == 0
    cells = sorted(p.name for p in (out / "cells").iterdir())
    refused = _finetune(tiny_roberta_dir, data_dir, out)
    assert refused.exit_code != 0
    message = str(refused.exception)
    assert "hia_hou/train_val.csv changed (sha256 " in message and "--overwrite" in message, message
    record = json.loads((out / "run.json").read_text())
    assert record["inputs"]["hia_hou/train_val.csv"][:12] in message  # the old sha256
    assert sorted(p.name for p in (out / "cells").iterdir()) == cells  # nothing touched
    assert not (out / "run_params.json").exists()

    done = _finetune(tiny_roberta_dir, data_dir, out, "--overwrite")
    assert done.exit_code == 0, done.output + repr(done.exception)
    assert _finetune(tiny_roberta_dir, data_dir, clean).exit_code == 0
    for name in ("finetune_results.csv", "summary.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(out / name), pd.read_csv(clean / name))
    # same data again: a plain resume, accepted
    assert _finetune(tiny_roberta_dir, data_dir, out).exit_code == 0


def test_other_settings_refused(tiny_roberta_dir, data_dir, tmp_path):
    out = tmp_path / "run"
    assert _finetune(tiny_roberta_dir, data_dir, out).exit_code == 0
    again = _finetune(tiny_roberta_dir, data_dir, out, "--weight-decay", "0.1")
    assert again.exit_code != 0 and "other settings" in str(again.exception)


def test_one_task_over_two_leaves_no_stale_task(tiny_roberta_dir, data_dir, tmp_path):
    out = tmp_path / "run"
    from molstrata.cli import app

    def run(tasks, *extra):
        opts = [o if o != "hia_hou" else tasks for o in OPTS]
        return CliRunner().invoke(app, ["finetune", "--encoder", str(tiny_roberta_dir), *opts,
                                        "--data-dir", str(data_dir), "--out", str(out), *extra])

    assert run("hia_hou,caco2_wang").exit_code == 0
    assert (out / "caco2_wang" / "run.json").is_file()
    refused = run("hia_hou")
    assert refused.exit_code != 0 and "--overwrite" in str(refused.exception)
    (out / "mine.txt").write_text("the user's")
    assert run("hia_hou", "--overwrite").exit_code == 0
    assert not (out / "caco2_wang").exists() and not (out / "hia_hou").exists()
    assert set(pd.read_csv(out / "finetune_results.csv")["task"]) == {"hia_hou"}
    assert (out / "mine.txt").is_file()
