"""``--selection`` in the sweep: selection.csv against the per-layer results, resuming from
the cached CV / concat / mix results, test labels that cannot move a choice, the report
section and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import molstrata.data as data_mod
import molstrata.probe.strategies as strat_mod
from molstrata.probe.outputs import ORACLE, SELECTION_COLUMNS, SUMMARY_COLUMNS
from molstrata.probe.selection import DEFAULT_SELECTION, SELECTIONS
from molstrata.runs import sweep

TASKS = "hia_hou,caco2_wang"  # a small classification and a small regression task
SEEDS = [1, 2]


@pytest.fixture(scope="module")
def encoder(tiny_roberta_dir):
    from molstrata.encoders import load_encoder

    return load_encoder(str(tiny_roberta_dir), device="cpu")  # 4 layers of one width


@pytest.fixture(scope="module")
def all_run(tmp_path_factory, data_dir, encoder):
    out = tmp_path_factory.mktemp("sel")
    run = sweep([encoder], TASKS, SEEDS, out=out, data_dir=data_dir, strategy="all",
                report=True, progress=False)
    return out, run


def _delta(final, other, metric):
    return 100 * ((final - other) / final if metric == "mae" else (other - final) / final)


def test_selection_csv_follows_the_per_layer_results(all_run):
    out, run = all_run
    sel = pd.read_csv(out / "selection.csv")
    seeds = pd.read_csv(out / "selection_seeds.csv")
    res = pd.read_csv(out / "probe_results.csv")
    assert list(sel.columns) == SELECTION_COLUMNS
    assert set(sel["strategy"]) == set(SELECTIONS) | {ORACLE}
    assert len(sel) == 2 * (len(SELECTIONS) + 1)
    for task, g in sel.groupby("task"):
        test = res[(res["task"] == task) & (res["split"] == "test")].pivot(index="seed", columns="layer",
                                                                             values="score")
        metric = g["metric"].iloc[0]
        final = test[test.columns.max()].to_numpy()
        for r in g.itertuples(index=False):
            per_seed = seeds[(seeds["task"] == task) & (seeds["strategy"] == r.strategy)].sort_values("seed")
            if r.strategy == ORACLE:
                mean = test.mean(axis=0)
                k = int(mean.idxmin() if metric == "mae" else mean.idxmax())
                assert r.choices == str(k)
                scores = test[k].to_numpy()
            else:
                assert r.choices == ";".join(per_seed["choice"].astype(str))
                scores = per_seed["test_score"].to_numpy()
                if r.strategy in ("valid", "cv", "cv-1se"):  # one layer: its probe_results test score
                    layers = per_seed["choice"].astype(int).to_numpy()
                    np.testing.assert_allclose(scores, [test.loc[s, k] for s, k in zip(SEEDS, layers, strict=True)])
                w = np.array([[float(v) for v in row.split(";")] for row in per_seed["weights"]])
                np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)  # 6 digits in the CSV
            assert r.test_mean == pytest.approx(scores.mean())
            assert r.test_std == pytest.approx(scores.std())
            assert r.final_test_mean == pytest.approx(final.mean())
            assert r.delta_pct == pytest.approx(_delta(final.mean(), scores.mean(), metric))
    summ = pd.read_csv(out / "selection_summary.csv")
    for r in summ.itertuples(index=False):
        d = sel[sel["strategy"] == r.strategy].set_index("task")["delta_pct"]
        assert r.mean_delta_pct == pytest.approx(d.mean())
        assert r.tasks_better == int((d > 0).sum()) and r.tasks_worse == int((d < 0).sum())
        assert r.worst_task == d.idxmin() and r.worst_delta_pct == pytest.approx(d.min())


def test_primary_strategy_fills_summary(all_run, data_dir, tmp_path, encoder):
    out, run = all_run
    summ = pd.read_csv(out / "summary.csv")
    assert list(summ.columns) == SUMMARY_COLUMNS
    seeds = pd.read_csv(out / "selection_seeds.csv")
    for r in summ.itertuples(index=False):
        mine = seeds[(seeds["task"] == r.task) & (seeds["strategy"] == DEFAULT_SELECTION)].sort_values("seed")
        assert r.selected_layers == ";".join(mine["choice"].astype(str))
        assert r.selected_test_mean == pytest.approx(mine["test_score"].mean())
    # a cv-primary run: summary's selected layers are cv's choices
    cv = sweep([encoder], "caco2_wang", [1], out=tmp_path, data_dir=data_dir, strategy="cv",
               report=False, progress=False)
    assert cv.scores[0].strategy == "cv"
    row = seeds[(seeds["task"] == "caco2_wang") & (seeds["seed"] == 1) & (seeds["strategy"] == "cv")]
    assert cv.scores[0].selected_layer == int(row["choice"].iloc[0])


def test_selection_resumes_from_cached_results(all_run, data_dir, monkeypatch, encoder):
    out, run = all_run
    before = pd.read_csv(out / "selection_seeds.csv")
    for name in ("cv_k5.npz", "concat_k5.npz", "mix.npz"):
        assert len(list((out / "cells").rglob(name))) == 2 * len(SEEDS)

    def boom(*a, **k):
        raise AssertionError("recomputed a cached result")

    monkeypatch.setattr(strat_mod, "cross_validate", boom)
    monkeypatch.setattr(strat_mod, "MixProbe", boom)
    again = sweep([encoder], TASKS, SEEDS, out=out, data_dir=data_dir, strategy="all",
                  report=False, progress=False)
    assert again.resumed_cells == 2 * len(SEEDS) * 4
    pd.testing.assert_frame_equal(pd.read_csv(out / "selection_seeds.csv"), before)


def test_sweep_choices_ignore_test_labels(data_dir, tmp_path, monkeypatch, encoder):
    clean = sweep([encoder], "caco2_wang", [1], out=tmp_path / "clean", data_dir=data_dir,
                  strategy="all", report=False, progress=False)
    real = data_mod.load_task

    def poisoned(name, seed=1, data_dir=None):
        split = real(name, seed=seed, data_dir=data_dir)
        split.test["Y"] = np.random.default_rng(0).permutation(split.test["Y"].to_numpy()) * 3.0 + 1.0
        return split

    monkeypatch.setattr(data_mod, "load_task", poisoned)
    dirty = sweep([encoder], "caco2_wang", [1], out=tmp_path / "dirty", data_dir=data_dir,
                  strategy="all", report=False, progress=False)
    a = pd.read_csv(tmp_path / "clean" / "selection_seeds.csv")
    b = pd.read_csv(tmp_path / "dirty" / "selection_seeds.csv")
    pd.testing.assert_frame_equal(a[["strategy", "choice", "weights", "info"]], b[["strategy", "choice", "weights", "info"]])
    assert not np.allclose(a["test_score"], b["test_score"])  # the poison reached the scoring
    for x, y in zip(clean.scores, dirty.scores, strict=True):
        np.testing.assert_array_equal(x.test_pred, y.test_pred)


def test_report_renders_the_selection_section(all_run):
    out, _ = all_run
    text = (out / "report.md").read_text()
    assert "## Layer selection strategies" in text
    assert "oracle (TEST-picked)" in text and ORACLE in text
    for name in SELECTIONS:
        assert f"| {name} |" in text


def test_cli_selection(tiny_roberta_dir, data_dir, tmp_path):
    from molstrata.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "probe", "--encoder", str(tiny_roberta_dir), "--tasks", "caco2_wang", "--seeds", "1",
        "--selection", "cv,ensemble", "--cv-folds", "4", "--out", str(out), "--data-dir", str(data_dir),
        "--no-report",
    ])
    assert result.exit_code == 0, result.output + repr(result.exception)
    sel = pd.read_csv(out / "selection.csv")
    assert list(sel["strategy"]) == ["cv", "ensemble", ORACLE]
    assert "cv: mean Δ% over the final layer" in result.output
    assert list((out / "cells").rglob("cv_k4.npz"))
    bad = CliRunner().invoke(app, ["probe", "--encoder", str(tiny_roberta_dir), "--tasks", "caco2_wang",
                                   "--selection", "test-best", "--out", str(tmp_path / "bad"),
                                   "--data-dir", str(data_dir)])
    assert bad.exit_code != 0
    assert "--selection" in str(bad.exception) and "cv-1se" in str(bad.exception)
    assert not (tmp_path / "bad").exists()  # refused before anything is written
