"""``molstrata probe --probe mlp-tuned`` / ``gbdt-tuned`` (issue 21: the tuned heads as
first-class probes) then ``molstrata predict``, on a tiny random RoBERTa and one small TDC
task with the heads' default grids: the saved predictor writes the run's own test
predictions exactly; ``--n-jobs 2`` writes the same tables as one process, byte for byte."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cli_main import run_main
from extras import installed_or_skip

TABLES = ("probe_results.csv", "summary.csv", "probe_params.csv")


def _probe(cli, encoder_dir, data_dir, out, head, task, *extra):
    code, err = cli("probe", "--encoder", encoder_dir, "--tasks", task, "--seeds", "1", "--probe", head,
                    "--selection", "valid", "--baseline", "none", "--no-report", "--out", out,
                    "--data-dir", data_dir, *extra)
    assert code == 0, err


@pytest.mark.parametrize(("head", "task"), [("mlp-tuned", "hia_hou"), ("gbdt-tuned", "caco2_wang")])
def test_tuned_head_runs_and_predict_reproduces_it(head, task, tiny_roberta_dir, data_dir, tmp_path,
                                                   monkeypatch, capsys):
    if head == "gbdt-tuned":
        installed_or_skip("lightgbm", "this test")
    cli = lambda *args: run_main(monkeypatch, capsys, *args)  # noqa: E731
    out = tmp_path / "run"
    _probe(cli, tiny_roberta_dir, data_dir, out, head, task)
    params = pd.read_csv(out / "probe_params.csv")
    assert set(params["probe"]) == {head}
    assert set(params["param"]) <= set(range(4))  # the index of the configuration chosen on valid
    test_csv = data_dir / "admet_group" / task / "test.csv"
    code, err = cli("predict", "--model", out, "--task", task, "--seed", "1", "--input", test_csv,
                    "--smiles-col", "Drug", "--id-col", "Drug_ID", "--out", tmp_path / "p.csv")
    assert code == 0, err
    got = pd.read_csv(tmp_path / "p.csv")
    own = pd.read_csv(out / "predictions" / f"{task}_seed1.csv")
    np.testing.assert_array_equal(got["y_proba" if task == "hia_hou" else "y_pred"].to_numpy(float),
                                  own["Y_pred"].to_numpy())
    code, err = cli("report", out)
    assert code == 0, err
    text = (out / "report.md").read_text()
    assert f"probe: **{head}**" in text and f"the run's own {head} probe on the final layer" in text


def test_gbdt_tuned_two_workers_write_the_same_tables(tiny_roberta_dir, data_dir, tmp_path, monkeypatch, capsys):
    installed_or_skip("lightgbm", "this test")
    cli = lambda *args: run_main(monkeypatch, capsys, *args)  # noqa: E731
    _probe(cli, tiny_roberta_dir, data_dir, tmp_path / "one", "gbdt-tuned", "caco2_wang")
    _probe(cli, tiny_roberta_dir, data_dir, tmp_path / "two", "gbdt-tuned", "caco2_wang", "--n-jobs", "2")
    for name in TABLES:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
