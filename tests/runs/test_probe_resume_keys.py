"""A probe resume reuses a cell only when its inputs (task files, labels, split seed,
encoder identity, probe settings) are the ones it was computed from."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from altered_data import altered_data_dir
from molstrata.core.errors import ConfigError, DataNotFoundError
from molstrata.runs import sweep

TASK = "caco2_wang"


def _run(enc, out, data_dir, seeds=(1,), tasks=TASK, **kw):
    return sweep([enc], tasks, list(seeds), out=out, data_dir=data_dir, report=False,
                 progress=False, strategy="valid", **kw)


def test_changed_labels_are_recomputed_not_resumed(hash_encoder, data_dir, tmp_path):
    other = altered_data_dir(data_dir, tmp_path / "other", TASK, lambda y: y + 3.0)
    clean = _run(hash_encoder, tmp_path / "clean", data_dir)
    out = tmp_path / "run"
    _run(hash_encoder, out, other)
    again = _run(hash_encoder, out, data_dir)
    assert again.resumed_cells == 0
    assert any("train_val.csv changed" in n and "seed(s) 1" in n for n in again.notes), again.notes
    pd.testing.assert_frame_equal(pd.read_csv(out / "probe_results.csv"),
                                  pd.read_csv(tmp_path / "clean" / "probe_results.csv"))
    assert [s.test_scores for s in again.scores][0].tolist() == clean.scores[0].test_scores.tolist()
    key = json.loads(next((out / "cells").rglob("key.json")).read_text())
    assert {"train_val.csv", "test.csv", "labels", "split seed", "encoder identity"} <= set(key)
    # same inputs again: every cell is reused
    assert _run(hash_encoder, out, data_dir).resumed_cells == hash_encoder.num_layers + 1


def test_other_encoder_weights_are_recomputed(make_hash_encoder, data_dir, tmp_path):
    out = tmp_path / "run"
    _run(make_hash_encoder(seed=0), out, data_dir)
    run = _run(make_hash_encoder(seed=1), out, data_dir)
    clean = _run(make_hash_encoder(seed=1), tmp_path / "clean", data_dir)
    assert run.resumed_cells == 0
    assert any("encoder identity" in n for n in run.notes), run.notes
    pd.testing.assert_frame_equal(pd.read_csv(out / "probe_results.csv"),
                                  pd.read_csv(tmp_path / "clean" / "probe_results.csv"))
    assert clean.resumed_cells == 0


def test_other_tasks_are_another_run(hash_encoder, data_dir, tmp_path):
    out = tmp_path / "run"
    _run(hash_encoder, out, data_dir, tasks="hia_hou,caco2_wang")
    assert (out / "predictions" / "hia_hou_seed1.csv").is_file()
    with pytest.raises(ConfigError, match="other settings.*tasks.*--overwrite"):
        _run(hash_encoder, out, data_dir)
    (out / "mine.txt").write_text("the user's file")
    _run(hash_encoder, out, data_dir, overwrite=True)
    assert not list((out / "predictions").glob("hia_hou*"))
    assert not (out / "cells" / "hash-encoder" / "hia_hou").exists()
    assert (out / "mine.txt").read_text() == "the user's file"
    assert json.loads((out / "run.json").read_text())["settings"]["tasks"] == [TASK]


def test_a_failed_start_leaves_nothing(hash_encoder, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(DataNotFoundError):
        _run(hash_encoder, out, tmp_path / "no-data")
    assert not out.exists()
    out.mkdir()
    with pytest.raises(DataNotFoundError):
        _run(hash_encoder, out, tmp_path / "no-data")
    assert list(out.iterdir()) == []
