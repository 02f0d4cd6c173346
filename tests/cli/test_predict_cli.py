"""``molstrata probe`` then ``molstrata predict`` (issue 19, item 3), on a tiny random RoBERTa
and two small TDC tasks with two seeds: ``predict --seed s`` on a run's own test molecules
writes that run's ``predictions/<task>_seed<s>.csv`` values exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cli_main import run_main

TASKS = ("hia_hou", "caco2_wang")  # a small classification and a small regression task




@pytest.fixture(scope="module")
def run(tiny_roberta_dir, data_dir, tmp_path_factory):
    """A probe run (default selection: ensemble) and the embeddings cache it filled."""
    from typer.testing import CliRunner

    from molstrata.cli import app

    cache = tmp_path_factory.mktemp("predict_cache")
    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOLSTRATA_CACHE_DIR", str(cache))
        result = CliRunner().invoke(app, [
            "probe", "--encoder", str(tiny_roberta_dir), "--tasks", ",".join(TASKS), "--seeds", "1,2",
            "--out", str(out), "--data-dir", str(data_dir), "--no-report"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, cache


@pytest.fixture
def cli(run, monkeypatch, capsys):
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(run[1]))
    return lambda *args: run_main(monkeypatch, capsys, *args)


def _read(path):
    return pd.read_csv(path, keep_default_na=False, dtype={"id": str})


@pytest.mark.parametrize("task", TASKS)
def test_predict_reproduces_the_runs_predictions(run, cli, data_dir, tmp_path, task):
    out = run[0]
    test_csv = data_dir / "admet_group" / task / "test.csv"
    for seed in (1, 2):
        code, err = cli("predict", "--model", out, "--task", task, "--seed", seed, "--input", test_csv,
                        "--smiles-col", "Drug", "--id-col", "Drug_ID", "--out", tmp_path / "p.csv")
        assert code == 0, err
        got = _read(tmp_path / "p.csv")
        own = pd.read_csv(out / "predictions" / f"{task}_seed{seed}.csv")
        assert got["id"].tolist() == own["Drug_ID"].astype(str).tolist()
        assert got["smiles"].tolist() == pd.read_csv(test_csv)["Drug"].tolist()
        assert (got["reason"] == "").all()
        if task == "hia_hou":  # classification: probabilities as the run's, and their labels
            assert list(got.columns) == ["id", "smiles", "y_pred", "y_proba", "reason"]
            np.testing.assert_array_equal(got["y_proba"].to_numpy(float), own["Y_pred"].to_numpy())
            np.testing.assert_array_equal(got["y_pred"].to_numpy(int), (own["Y_pred"] >= 0.5).astype(int))
        else:
            assert list(got.columns) == ["id", "smiles", "y_pred", "reason"]
            np.testing.assert_array_equal(got["y_pred"].to_numpy(float), own["Y_pred"].to_numpy())
        assert f"seed {seed}" in err


def test_seed_ensemble_and_invalid_rows(run, cli, tmp_path):
    out = run[0]
    src = tmp_path / "new.csv"
    pd.DataFrame({"mol": ["CCO", "C1CC", "", "c1ccccc1N", "CC(=O)O"]}).to_csv(src, index=False)
    code, err = cli("predict", "--model", out, "--task", "caco2_wang", "--input", src,
                    "--smiles-col", "mol", "--out", tmp_path / "p.csv")
    assert code == 0, err
    got = _read(tmp_path / "p.csv")
    assert got["id"].tolist() == ["1", "2", "3", "4", "5"]  # data rows, in place
    assert got["y_pred"].iloc[[1, 2]].tolist() == ["", ""]
    assert (got["reason"].iloc[[1, 2]] != "").all() and (got["reason"].iloc[[0, 3, 4]] == "").all()
    assert "2 invalid row(s)" in err and "file rows 3" in err and "mean of seeds 1,2" in err
    seeds = []
    for seed in (1, 2):
        assert cli("predict", "--model", out, "--task", "caco2_wang", "--seed", seed, "--input", src,
                   "--smiles-col", "mol", "--out", tmp_path / f"s{seed}.csv")[0] == 0
        seeds.append(pd.to_numeric(_read(tmp_path / f"s{seed}.csv")["y_pred"], errors="coerce").to_numpy())
    ens = pd.to_numeric(got["y_pred"], errors="coerce").to_numpy()
    np.testing.assert_allclose(ens[[0, 3, 4]], ((seeds[0] + seeds[1]) / 2)[[0, 3, 4]], rtol=1e-12)


def _error_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert lines and lines[-1].startswith("error:"), err
    return lines[-1]


def test_refusals_are_one_line(run, cli, tiny_bert_dir, tmp_path):
    out = run[0]
    src = tmp_path / "new.csv"
    pd.DataFrame({"smiles": ["CCO"]}).to_csv(src, index=False)
    base = ("predict", "--model", out, "--input", src, "--out", tmp_path / "p.csv")
    code, err = cli(*base, "--task", "caco2_wang", "--encoder", tiny_bert_dir)
    assert code == 2 and "identity" in _error_line(err) and "caco2_wang" in _error_line(err)
    code, err = cli(*base)  # two tasks in the run
    assert code == 2 and "--task" in _error_line(err) and "caco2_wang" in _error_line(err)
    code, err = cli(*base, "--task", "caco2_wang", "--smiles-col", "nope")
    assert code == 2 and "'nope'" in _error_line(err) and str(src.name) in _error_line(err)
    code, err = cli(*base, "--task", "caco2_wang", "--seed", "9")
    assert code == 2 and "--seed 9" in _error_line(err)
    code, err = cli("predict", "--model", tmp_path, "--input", src, "--out", tmp_path / "p.csv")
    assert code == 2 and "models/" in _error_line(err)
    assert not (tmp_path / "p.csv").exists()
