"""Issue 19's "done when", as a new user runs it: a MoleculeNet CSV with renamed columns goes
through ``molstrata probe --input`` (default selection) and then ``molstrata predict``; the
predictions of the run's own test molecules equal the run's ``predictions/`` files, and
``config.toml`` reruns the probe to identical tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cli_main import run_main

N_ROWS = 160  # the first rows of ESOL: seconds with the tiny RoBERTa




@pytest.fixture
def user_csv(data_dir, tmp_path):
    raw = pd.read_csv(data_dir / "moleculenet" / "delaney-processed.csv").head(N_ROWS)
    frame = pd.DataFrame({"compound": raw["Compound ID"], "mol": raw["smiles"],
                          "solubility": raw["measured log solubility in mols per litre"]})
    path = tmp_path / "assay.csv"
    frame.to_csv(path, index=False)
    return path


def test_csv_probe_then_predict_reproduces_the_run(user_csv, tiny_roberta_dir, tmp_path,
                                                   monkeypatch, capsys):
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    code, err = run_main(monkeypatch, capsys, "probe", "-e", tiny_roberta_dir, "--input", user_csv,
                      "--smiles-col", "mol", "--target-col", "solubility", "--task-type",
                      "regression", "--id-col", "compound", "--seeds", "1,2", "--out", out,
                      "--no-report", "--baseline", "none")
    assert code == 0, err
    user = pd.read_csv(user_csv).set_index("compound")
    for seed in (1, 2):
        own = pd.read_csv(out / "predictions" / f"assay_seed{seed}.csv")
        test = tmp_path / f"test{seed}.csv"
        pd.DataFrame({"compound": own["Drug_ID"], "mol": user.loc[own["Drug_ID"], "mol"].to_numpy()}
                     ).to_csv(test, index=False)
        code, err = run_main(monkeypatch, capsys, "predict", "--model", out, "--task", "assay",
                          "--seed", seed, "--input", test, "--smiles-col", "mol", "--id-col",
                          "compound", "--out", tmp_path / f"p{seed}.csv")
        assert code == 0, err
        got = pd.read_csv(tmp_path / f"p{seed}.csv")
        assert got["id"].astype(str).tolist() == own["Drug_ID"].astype(str).tolist()
        np.testing.assert_array_equal(got["y_pred"].to_numpy(float), own["Y_pred"].to_numpy())
    # without --seed: the seed ensemble, the mean of the two seeds' predictors
    code, err = run_main(monkeypatch, capsys, "predict", "--model", out, "--input", tmp_path / "test1.csv",
                      "--smiles-col", "mol", "--out", tmp_path / "mean.csv")
    assert code == 0 and "mean of seeds 1,2" in err, err
    p1 = pd.read_csv(tmp_path / "p1.csv")["y_pred"].to_numpy()
    two = tmp_path / "p1b.csv"
    assert run_main(monkeypatch, capsys, "predict", "--model", out, "--seed", 2, "--input",
                 tmp_path / "test1.csv", "--smiles-col", "mol", "--out", two)[0] == 0
    np.testing.assert_allclose(pd.read_csv(tmp_path / "mean.csv")["y_pred"].to_numpy(),
                               (p1 + pd.read_csv(two)["y_pred"].to_numpy()) / 2, rtol=1e-12)

    # the run reruns from its own config.toml to byte-identical tables
    code, err = run_main(monkeypatch, capsys, "probe", "--config", out / "config.toml", "--out",
                      tmp_path / "again")
    assert code == 0, err
    for table in ("summary.csv", "probe_results.csv", "predictions/assay_seed1.csv"):
        assert (tmp_path / "again" / table).read_bytes() == (out / table).read_bytes(), table
