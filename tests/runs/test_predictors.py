"""Saved predictors of a probe run (issue 19, item 2) and ``load_predictor`` (item 3): a
predictor written by the sweep reproduces the run's own test predictions, and refuses an
encoder other than the one it was fitted on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from extras import installed_or_skip
from molstrata.core.errors import ConfigError
from molstrata.data import load_task
from molstrata.runs import sweep


def _own_predictions(out, task, seed):
    return pd.read_csv(out / "predictions" / f"{task}_seed{seed}.csv")


@pytest.mark.parametrize(("task", "selection", "probe"), [
    ("caco2_wang", "ensemble", "linear"),
    ("hia_hou", "ensemble", "linear"),
    ("caco2_wang", "valid", "linear"),
    ("caco2_wang", "concat", "linear"),
    ("hia_hou", "cv", "mlp"),
    ("caco2_wang", "ensemble", "gbdt"),
])
def test_saved_predictor_reproduces_the_run(hash_encoder, data_dir, tmp_path, task, selection, probe):
    import molstrata

    if probe == "gbdt":
        installed_or_skip("lightgbm", "this test")
    params = {"mlp": {"hidden": 8, "max_epochs": 6, "patience": 2},
              "gbdt": {"n_estimators": 30, "early_stopping_rounds": 5, "n_jobs": 1}}.get(probe)
    out = tmp_path / "run"
    sweep([hash_encoder], task, [1, 2], out=out, data_dir=data_dir, strategy=selection, model=probe,
          params=params, report=False, progress=False)
    for seed in (1, 2):
        folder = out / "models" / task / f"seed{seed}"
        doc = json.loads((folder / "predictor.json").read_text())
        assert (folder / "weights.safetensors").is_file()
        assert not list(folder.glob("*.pkl")) and not list(folder.glob("*.pt"))
        assert doc["task"] == task and doc["seed"] == seed and doc["strategy"] == selection
        assert doc["encoder"]["name"] == hash_encoder.name and len(doc["encoder"]["identity"]) == 64
        assert json.loads((out / "run.json").read_text())["encoders"][hash_encoder.name] == doc["encoder"]["identity"]
        own = _own_predictions(out, task, seed)
        split = load_task(task, seed=seed, data_dir=data_dir)
        assert own["Drug_ID"].astype(str).tolist() == split.test["Drug_ID"].astype(str).tolist()
        pred = molstrata.load_predictor(out, task, seed=seed, encoder=hash_encoder)
        got = pred.predict_proba(split.smiles("test")) if split.task_type == "classification" \
            else pred.predict(split.smiles("test"))
        np.testing.assert_array_equal(got, own["Y_pred"].to_numpy())


def test_seed_ensemble_averages_the_seeds(hash_encoder, data_dir, tmp_path):
    from molstrata.runs.predict import load_predictor

    out = tmp_path / "run"
    sweep([hash_encoder], "hia_hou", [1, 2], out=out, data_dir=data_dir, report=False, progress=False)
    smiles = ["CCO", "c1ccccc1O", "not a smiles", "CC(=O)Nc1ccc(O)cc1"]
    both = load_predictor(out, encoder=hash_encoder)  # one task: no name needed
    assert both.seeds == (1, 2)
    table = both.predict_table(smiles)
    one = [load_predictor(out, "hia_hou", seed=s, encoder=hash_encoder).predict_proba(smiles) for s in (1, 2)]
    np.testing.assert_allclose(table.y_proba, (one[0] + one[1]) / 2)
    assert np.isnan(table.y_proba[2]) and np.isnan(table.y_pred[2]) and table.reasons[2]
    assert table.invalid.tolist() == [2]
    ok = [0, 1, 3]
    assert set(table.y_pred[ok]) <= {0.0, 1.0}
    np.testing.assert_array_equal(table.y_pred[ok], (table.y_proba[ok] >= 0.5).astype(float))


def test_another_encoder_is_refused(hash_encoder, make_hash_encoder, data_dir, tmp_path):
    from molstrata.runs.predict import EncoderMismatchError, load_predictor

    out = tmp_path / "run"
    sweep([hash_encoder], "caco2_wang", [1], out=out, data_dir=data_dir, strategy="valid",
          report=False, progress=False)
    other = make_hash_encoder(hash_encoder.name, seed=7)  # same name, other weights
    with pytest.raises(EncoderMismatchError, match="identity") as err:
        load_predictor(out, "caco2_wang", encoder=other)
    assert "seed" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="Encoder object"):  # the run was given an instance
        load_predictor(out, "caco2_wang")
    with pytest.raises(ConfigError, match="tasks there: caco2_wang"):
        load_predictor(out, "hia_hou", encoder=hash_encoder)
    with pytest.raises(ConfigError, match="--seed 3"):
        load_predictor(out, "caco2_wang", seed=3, encoder=hash_encoder)


def test_predictors_are_json_and_safetensors_only(hash_encoder, data_dir, tmp_path):
    from safetensors.numpy import load_file

    out = tmp_path / "run"
    sweep([hash_encoder], "caco2_wang", [1], out=out, data_dir=data_dir, report=False, progress=False)
    folder = out / "models" / "caco2_wang" / "seed1"
    assert sorted(p.name for p in folder.iterdir()) == ["predictor.json", "weights.safetensors"]
    arrays = load_file(str(folder / "weights.safetensors"))
    doc = json.loads((folder / "predictor.json").read_text())
    assert doc["combination"]["kind"] == "weighted" and doc["pooling"] and doc["metric"] == "mae"
    assert len(doc["combination"]["weights"]) == doc["n_layers"] == 3
    assert all(isinstance(v, np.ndarray) for v in arrays.values())


def test_several_encoders_save_one_predictor_each(make_hash_encoder, data_dir, tmp_path):
    from molstrata.runs.predict import load_predictor

    a, b = make_hash_encoder("enc-a", seed=0), make_hash_encoder("enc-b", seed=1)
    out = tmp_path / "run"
    sweep([a, b], "caco2_wang", [1], out=out, data_dir=data_dir, strategy="valid", report=False,
          progress=False)
    assert sorted(p.name for p in (out / "models").iterdir()) == ["enc-a", "enc-b"]
    split = load_task("caco2_wang", seed=1, data_dir=data_dir)
    for enc in (a, b):
        own = pd.read_csv(out / "predictions" / enc.name / "caco2_wang_seed1.csv")
        got = load_predictor(out, "caco2_wang", encoder=enc).predict(split.smiles("test"))
        np.testing.assert_array_equal(got, own["Y_pred"].to_numpy())
    with pytest.raises(ConfigError, match="encoders there: enc-a, enc-b"):
        load_predictor(out, "caco2_wang", encoder=make_hash_encoder("enc-c"))
    with pytest.raises(ConfigError, match="several encoders"):
        load_predictor(out, "caco2_wang")


def test_the_sweeps_own_probes_are_saved_without_a_refit(hash_encoder, data_dir, tmp_path, monkeypatch):
    import molstrata.runs.predictors as predictors_mod
    from molstrata.runs.predict import load_predictor

    def no_refit(*args, **kwargs):
        raise AssertionError("refitted although the sweep kept its probes")

    out = tmp_path / "run"
    with monkeypatch.context() as mp:
        mp.setattr(predictors_mod, "_fit", no_refit)
        sweep([hash_encoder], "hia_hou", [1], out=out, data_dir=data_dir, report=False, progress=False)
    kept = sorted(p.name for p in (out / "cells").rglob("fitted_*"))
    assert kept == ["fitted_000_002_3.json", "fitted_000_002_3.safetensors"]
    first = (out / "models" / "hia_hou" / "seed1" / "weights.safetensors").read_bytes()
    for p in (out / "cells").rglob("fitted_*"):  # e.g. cells from before predictors were saved
        p.unlink()
    sweep([hash_encoder], "hia_hou", [1], out=out, data_dir=data_dir, report=False, progress=False)
    assert (out / "models" / "hia_hou" / "seed1" / "weights.safetensors").read_bytes() == first  # refitted
    split = load_task("hia_hou", seed=1, data_dir=data_dir)
    got = load_predictor(out, encoder=hash_encoder).predict_proba(split.smiles("test"))
    np.testing.assert_array_equal(got, _own_predictions(out, "hia_hou", 1)["Y_pred"].to_numpy())


def test_mix_is_not_saved_and_says_so(hash_encoder, data_dir, tmp_path):
    from molstrata.runs.predict import load_predictor

    out = tmp_path / "run"
    run = sweep([hash_encoder], "caco2_wang", [1], out=out, data_dir=data_dir, strategy="mix",
                report=False, progress=False)
    assert any("mix" in n and "not saved" in n for n in run.notes)
    assert not list(out.rglob("predictor.json"))
    with pytest.raises(ConfigError, match="predictor"):
        load_predictor(out, "caco2_wang", encoder=hash_encoder)


def test_format_1_predictors_still_load_and_newer_formats_are_refused(hash_encoder, data_dir, tmp_path):
    """Linear, mlp and gbdt predictors keep format 1 (the layout every molstrata reads); format 2
    adds the tuned heads; a format this molstrata does not know is refused in one line."""
    from molstrata.runs.predict import load_predictor

    out = tmp_path / "run"
    sweep([hash_encoder], "caco2_wang", [1], out=out, data_dir=data_dir, strategy="valid", report=False,
          progress=False)
    path = out / "models" / "caco2_wang" / "seed1" / "predictor.json"
    doc = json.loads(path.read_text())
    assert doc["format"] == 1
    split = load_task("caco2_wang", seed=1, data_dir=data_dir)
    got = load_predictor(out, encoder=hash_encoder).predict(split.smiles("test"))
    np.testing.assert_array_equal(got, _own_predictions(out, "caco2_wang", 1)["Y_pred"].to_numpy())
    path.write_text(json.dumps({**doc, "format": 3}))
    with pytest.raises(ConfigError, match="format 1 or 2") as err:
        load_predictor(out, encoder=hash_encoder)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_heads_predict_on_the_runs_thread_count_whatever_the_callers(hash_encoder, data_dir, tmp_path):
    """The run's test predictions come from heads run on ``FIT_THREADS`` threads; ``predict``
    runs them on the same count whatever the caller set (a float32 MLP's rows near a thread
    block's edge change bits with the thread count on some CPUs: seen on AVX-512 with 2
    threads), and gives the caller's count back."""
    import torch

    import molstrata
    from molstrata.core.threads import FIT_THREADS

    out = tmp_path / "run"
    sweep([hash_encoder], "hia_hou", [1], out=out, data_dir=data_dir, strategy="valid", model="mlp",
          params={"hidden": 8, "max_epochs": 4, "patience": 2}, report=False, progress=False)
    pred = molstrata.load_predictor(out, "hia_hou", seed=1, encoder=hash_encoder)
    seen = []
    for _, probe in pred.members:
        inner = probe.predict

        def spy(X, inner=inner):
            seen.append(torch.get_num_threads())
            return inner(X)

        probe.predict = spy
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        got = pred.predict_proba(load_task("hia_hou", seed=1, data_dir=data_dir).smiles("test"))
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {FIT_THREADS}
    np.testing.assert_array_equal(got, _own_predictions(out, "hia_hou", 1)["Y_pred"].to_numpy())
