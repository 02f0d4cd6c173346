"""``molstrata probe`` and ``molstrata report`` end to end on a tiny random RoBERTa and two
small TDC tasks with two seeds (seconds)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from molstrata.cli import app
from molstrata.probe.outputs import RESULT_COLUMNS, SUMMARY_COLUMNS

TASKS = ["hia_hou", "caco2_wang"]  # a small classification and a small regression task


@pytest.fixture(scope="module")
def probe_run(tiny_roberta_dir, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = CliRunner().invoke(app, [
        "probe", "--encoder", str(tiny_roberta_dir), "--tasks", ",".join(TASKS), "--seeds", "1,2",
        "--probe", "linear", "--out", str(out), "--data-dir", str(data_dir),
        "--selection", "valid",  # the tests below recompute the validation argmax themselves
    ])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, result


def test_output_tree(probe_run):
    out, _ = probe_run
    for name in ("probe_results.csv", "summary.csv", "leaderboard.json", "probe_params.csv",
                 "config.toml", "report.md", "figures/depth_curves.png", "figures/delta_heatmap.png",
                 "figures/selected_depth_hist.png", "baseline.csv", "report.html"):
        assert (out / name).is_file(), name
    for task in TASKS:
        for seed in (1, 2):
            assert (out / "predictions" / f"{task}_seed{seed}.csv").is_file()


def test_results_schema(probe_run, data_dir):
    out, _ = probe_run
    res = pd.read_csv(out / "probe_results.csv")
    assert list(res.columns) == RESULT_COLUMNS
    n_layers = 4  # tiny RoBERTa: embeddings + 3 blocks
    # a valid and a test row for every layer, task and seed
    assert len(res) == len(TASKS) * 2 * n_layers * 2
    counts = res.groupby(["task", "seed", "split"])["layer"].apply(lambda s: sorted(s))
    assert all(v == list(range(n_layers)) for v in counts)
    assert set(res["split"]) == {"valid", "test"}
    assert res["score"].notna().all()
    assert dict(zip(res["task"], res["metric"], strict=False)) == {"hia_hou": "roc-auc", "caco2_wang": "mae"}


def test_summary_and_leaderboard_follow_results(probe_run):
    out, _ = probe_run
    res = pd.read_csv(out / "probe_results.csv")
    summ = pd.read_csv(out / "summary.csv")
    assert list(summ.columns) == SUMMARY_COLUMNS
    board = json.loads((out / "leaderboard.json").read_text())
    assert set(board) == set(TASKS)
    for row in summ.itertuples(index=False):
        sub = res[res["task"] == row.task]
        valid = sub[sub["split"] == "valid"].pivot(index="seed", columns="layer", values="score")
        test = sub[sub["split"] == "test"].pivot(index="seed", columns="layer", values="score")
        lower = row.metric == "mae"
        # selected layers recomputed independently from the validation rows
        expect = (valid.idxmin(axis=1) if lower else valid.idxmax(axis=1)).tolist()
        assert [int(v) for v in row.selected_layers.split(";")] == expect
        sel = np.array([test.loc[s, k] for s, k in zip(test.index, expect, strict=True)])
        assert row.selected_test_mean == pytest.approx(sel.mean())
        assert row.selected_test_std == pytest.approx(sel.std())
        final = test[test.columns.max()].to_numpy()
        assert row.final_test_mean == pytest.approx(final.mean())
        gain = (final.mean() - sel.mean()) / final.mean() if lower else (sel.mean() - final.mean()) / final.mean()
        assert row.delta_pct == pytest.approx(100 * gain)
        mean_test = test.mean(axis=0)
        assert row.oracle_layer == (mean_test.idxmin() if lower else mean_test.idxmax())
        # PyTDC evaluate_many form: per-seed scores rounded to 3 decimals, population std
        r = np.round(sel, 3)
        assert board[row.task] == [round(r.mean(), 3), round(r.std(), 3)]


def test_predictions_rescore(probe_run, data_dir):
    """Predictions are in test-file order and re-score to the selected test score."""
    from sklearn.metrics import mean_absolute_error, roc_auc_score

    out, _ = probe_run
    res = pd.read_csv(out / "probe_results.csv")
    summ = pd.read_csv(out / "summary.csv").set_index("task")
    for task in TASKS:
        test_csv = pd.read_csv(data_dir / "admet_group" / task / "test.csv")
        for i, seed in enumerate((1, 2)):
            pred = pd.read_csv(out / "predictions" / f"{task}_seed{seed}.csv")
            assert list(pred.columns) == ["Drug_ID", "Y", "Y_pred"]
            assert pred["Drug_ID"].astype(str).tolist() == test_csv["Drug_ID"].astype(str).tolist()
            np.testing.assert_allclose(pred["Y"], test_csv["Y"])
            fn = mean_absolute_error if task == "caco2_wang" else roc_auc_score
            layer = int(summ.loc[task, "selected_layers"].split(";")[i])
            row = res[(res.task == task) & (res.seed == seed) & (res.split == "test") & (res.layer == layer)]
            assert fn(pred["Y"], pred["Y_pred"]) == pytest.approx(float(row["score"].iloc[0]))


def test_report_rebuilds_from_tables(probe_run):
    out, _ = probe_run
    (out / "report.md").unlink()
    (out / "figures" / "delta_heatmap.png").unlink()
    result = CliRunner().invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    assert "oracle" in text.lower() and "TEST" in text
    for task in TASKS:
        assert task in text
    assert (out / "figures" / "delta_heatmap.png").stat().st_size > 1000


def test_rerun_resumes_every_cell(probe_run, tiny_roberta_dir, data_dir):
    out, _ = probe_run
    before = pd.read_csv(out / "probe_results.csv")
    result = CliRunner().invoke(app, [
        "probe", "--encoder", str(tiny_roberta_dir), "--tasks", ",".join(TASKS), "--seeds", "1,2",
        "--out", str(out), "--data-dir", str(data_dir), "--no-report",
    ])
    assert result.exit_code == 0, result.output
    assert "resumed: 16" in result.output.replace("\n", " ")
    pd.testing.assert_frame_equal(before, pd.read_csv(out / "probe_results.csv"))


def test_bad_options_are_one_line_errors(tmp_path, data_dir):
    from molstrata.cli import main  # noqa: F401  (the entry point wraps MolstrataError)

    runner = CliRunner()
    r = runner.invoke(app, ["probe", "--tasks", "not_a_task", "--out", str(tmp_path), "--data-dir", str(data_dir)])
    assert r.exit_code != 0 and "not_a_task" in str(r.exception)
    r = runner.invoke(app, ["probe", "--tasks", "caco2_wang", "--probe", "svm", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "svm" in str(r.exception) and "linear" in str(r.exception)
    r = runner.invoke(app, ["probe", "--tasks", "caco2_wang", "--seeds", "1,x", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "'x'" in str(r.exception)
    r = runner.invoke(app, ["report", str(tmp_path / "nothing")])
    assert r.exit_code != 0 and "nothing" in str(r.exception)


def test_a_note_every_seed_repeats_is_printed_once(monkeypatch, tmp_path):
    """Issue 20: the CLI says a per-seed note once, naming the seeds (not five times)."""
    from types import SimpleNamespace

    from typer.testing import CliRunner

    import molstrata.runs.probe
    from molstrata.cli import app

    notes = [f"caco2_wang seed {s}: 2 test molecule(s) could not be embedded" for s in (1, 2, 3)]
    fake = SimpleNamespace(notes=notes, scores=[], selections=[], resumed_cells=0, out=tmp_path, control=None)
    monkeypatch.setattr(molstrata.runs.probe, "sweep", lambda *a, **k: fake)
    result = CliRunner().invoke(app, ["probe", "-t", "caco2_wang", "-s", "1-3", "-o", str(tmp_path),
                                      "--no-report"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.count("could not be embedded") == 1, result.output
    assert "seeds 1, 2, 3" in result.output
