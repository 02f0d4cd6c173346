"""The tuned heads through the sweep (issue 21): ``model="mlp-tuned"`` / ``"gbdt-tuned"`` run
through the same cells, resume, executors and selection strategies as the other probes; the
grids as fitted are part of each cell's key; the saved predictors (several layers for the
ensemble) reproduce the run's own test predictions; the same sweep twice, or with two local
workers, writes the same tables byte for byte."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from extras import installed_or_skip
from molstrata.core.errors import ConfigError
from molstrata.data import load_task
from molstrata.runs import sweep

TABLES = ("probe_results.csv", "summary.csv", "selection.csv", "probe_params.csv")
SMALL = {
    "mlp-tuned": {"grid": [{"hidden": 8}, {"hidden": 8, "depth": 2, "dropout": 0.0}], "max_epochs": 6,
                  "patience": 2, "n_inits": 2},
    "gbdt-tuned": {"grid": [{"num_leaves": 4}, {"num_leaves": 8, "min_child_samples": 5}],
                   "n_estimators": 30, "early_stopping_rounds": 5},
}


def _run(enc, head, out, data_dir, task="hia_hou", **kw):
    kw.setdefault("params", SMALL[head])
    return sweep([enc], task, [1], out=out, data_dir=data_dir, model=head, strategy="ensemble,cv",
                 report=False, progress=False, **kw)


def _skip(head):
    if head == "gbdt-tuned":
        installed_or_skip("lightgbm", "this test")


@pytest.mark.parametrize("head", ["mlp-tuned", "gbdt-tuned"])
def test_tuned_sweep_is_deterministic_and_saved(head, hash_encoder, data_dir, tmp_path):
    from molstrata.runs.predict import load_predictor
    from molstrata.scale import from_cli

    _skip(head)
    one, again, two = tmp_path / "one", tmp_path / "again", tmp_path / "two"
    _run(hash_encoder, head, one, data_dir)
    _run(hash_encoder, head, again, data_dir)
    _run(hash_encoder, head, two, data_dir, executor=from_cli("local", n_jobs=2)[0])
    for name in TABLES:
        assert (again / name).read_bytes() == (one / name).read_bytes(), name
        assert (two / name).read_bytes() == (one / name).read_bytes(), name
    doc = json.loads((one / "models" / "hia_hou" / "seed1" / "predictor.json").read_text())
    assert doc["probe"]["kind"] == head and doc["strategy"] == "ensemble" and doc["format"] == 2
    assert doc["probe"]["n_inputs"] == sum(w > 0 for w in doc["combination"]["weights"])  # one per layer used
    split = load_task("hia_hou", seed=1, data_dir=data_dir)
    own = pd.read_csv(one / "predictions" / "hia_hou_seed1.csv")["Y_pred"].to_numpy()
    got = load_predictor(one, encoder=hash_encoder).predict_proba(split.smiles("test"))
    np.testing.assert_array_equal(got, own)


def test_tuned_cells_resume_and_their_grid_is_in_the_key(hash_encoder, data_dir, tmp_path, monkeypatch):
    import molstrata.probe.tuned as tuned
    from molstrata.runs._cells import _check_cells

    installed_or_skip("lightgbm", "this test")
    out = tmp_path / "run"
    small = {k: v for k, v in SMALL["gbdt-tuned"].items() if k != "grid"}  # the default grid
    monkeypatch.setattr(tuned, "DEFAULT_GBDT_GRID", tuple(SMALL["gbdt-tuned"]["grid"]))
    _run(hash_encoder, "gbdt-tuned", out, data_dir, task="caco2_wang", params=small)
    first = {n: (out / n).read_bytes() for n in TABLES}
    folder = out / "cells" / hash_encoder.name / "caco2_wang" / "seed1"
    key = json.loads((folder / "key.json").read_text())
    grid = json.loads(key["--params"])["grid"]
    assert [g["num_leaves"] for g in grid] == [4, 8] and all(g["max_bin"] == 63 for g in grid)
    (folder / "layer001.npz").unlink()  # a killed run: one layer's cell missing
    run = _run(hash_encoder, "gbdt-tuned", out, data_dir, task="caco2_wang", params=small)
    assert run.resumed_cells == hash_encoder.num_layers  # the others read back
    assert {n: (out / n).read_bytes() for n in TABLES} == first
    # a changed default grid is another run: refused, never resumed from the old cells
    monkeypatch.setattr(tuned, "DEFAULT_GBDT_GRID", ({"num_leaves": 5},))
    with pytest.raises(ConfigError, match="--overwrite"):
        _run(hash_encoder, "gbdt-tuned", out, data_dir, task="caco2_wang", params=small)
    from molstrata.runs.probe import _effective_params

    key["--params"] = json.dumps(_effective_params("gbdt-tuned", small), sort_keys=True)
    assert "params" in _check_cells(folder, key)  # what differs, and the cells are gone
    assert not (folder / "layer000.npz").exists()


def test_probe_api_takes_a_tuned_head(hash_encoder, data_dir):
    from molstrata.probe import probe

    split = load_task("caco2_wang", seed=1, data_dir=data_dir)
    emb = hash_encoder.embed([*split.smiles("train"), *split.smiles("valid"), *split.smiles("test")])
    scores = probe(emb, split, model="mlp-tuned", strategy="valid", params=SMALL["mlp-tuned"])
    assert scores.model == "mlp-tuned" and scores.n_layers == hash_encoder.num_layers + 1
    assert set(scores.params.tolist()) <= {0.0, 1.0}  # the index of the configuration chosen on valid


def test_a_grid_entry_with_an_unknown_setting_is_refused_in_one_line(hash_encoder, data_dir, tmp_path):
    bad = {**SMALL["mlp-tuned"], "grid": [{"hidden": 8}, {"hidden": 8, "epochs": 3}]}
    with pytest.raises(ConfigError, match="grid entry 1 sets epochs") as err:
        _run(hash_encoder, "mlp-tuned", tmp_path / "run", data_dir, params=bad)
    assert "\n" not in str(err.value) and not (tmp_path / "run").exists()
