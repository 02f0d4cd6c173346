"""Issue 21's tuned heads and stacking: candidates per (task, seed) made without test labels,
the stacker's weights, the decision rule and the leaderboard's re-scorable predictions."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench_scripts import load_benchmark
from extras import installed_or_skip
from molstrata.core.errors import ConfigError
from molstrata.probe._probe import ProbeData
from molstrata.probe.heads import head_candidates, resolve_inputs
from molstrata.probe.stacking import LayerStacker, stack_layers

REPO = Path(__file__).resolve().parents[2]
FAST = {"mlp-tuned": {"grid": [{"hidden": 8}, {"hidden": 16, "depth": 2}], "max_epochs": 8, "patience": 3},
        "gbdt-tuned": {"grid": [{"num_leaves": 4}, {"num_leaves": 8}], "n_estimators": 20}}


def _data(task_type: str, n_tr: int = 160, n_va: int = 40, n_te: int = 30, seed: int = 0) -> ProbeData:
    rng = np.random.default_rng(seed)
    n = n_tr + n_va + n_te
    layers = [rng.normal(size=(n, d)).astype(np.float32) for d in (4, 6, 5)]
    y = layers[1][:, 0] - layers[1][:, 1] + 0.2 * rng.normal(size=n)  # layer 1 carries the signal
    if task_type == "classification":
        y = (y > 0).astype(float)
    # linkers of different lengths between two rings: many scaffolds for the grouped CV
    smiles = tuple("c1ccccc1" + "C" * (i % 20) + ("c1ccccc1" if i % 2 else "C1CC1") for i in range(n_tr + n_va))
    part = lambda a, b: [x[a:b] for x in layers]  # noqa: E731
    return ProbeData(train=part(0, n_tr), valid=part(n_tr, n_tr + n_va), test=part(n_tr + n_va, n),
                     y_train=y[:n_tr], y_valid=y[n_tr:n_tr + n_va], test_valid=np.ones(n_te, bool),
                     test_ids=np.array([f"t{i}" for i in range(n_te)]), notes=[], trainval_smiles=smiles)


@pytest.mark.parametrize("task_type,metric", [("regression", "mae"), ("classification", "roc-auc")])
def test_candidates_without_test_labels(task_type, metric):
    installed_or_skip("lightgbm", "this test")
    data = _data(task_type)
    kw = dict(task_type=task_type, metric=metric, seed=2, inputs=("final", "cv", "top2"), params=FAST)
    cands = head_candidates(data, **kw)
    names = [c.name for c in cands]
    assert names == ["mlp-tuned:final", "mlp-tuned:cv", "mlp-tuned:top2",
                     "gbdt-tuned:final", "gbdt-tuned:cv", "gbdt-tuned:top2", "stack"]
    by = {c.name: c for c in cands}
    assert by["mlp-tuned:final"].layers == (2,)
    assert by["mlp-tuned:cv"].layers == (1,)  # the informative layer wins the ridge CV
    assert 1 in by["mlp-tuned:top2"].layers and len(by["mlp-tuned:top2"].layers) == 2
    for c in cands:
        assert c.test_pred.shape == (30,) and np.isfinite(c.test_pred).all() and np.isfinite(c.valid_score)
    again = head_candidates(data, **kw)  # same inputs and seed: the same numbers
    for a, b in zip(cands, again, strict=True):
        np.testing.assert_array_equal(a.test_pred, b.test_pred)
        assert a.valid_score == b.valid_score


def test_inputs_naming_the_same_layers_are_fit_once():
    data = _data("regression")
    cands = head_candidates(data, task_type="regression", metric="mae", seed=1, heads=("mlp-tuned",),
                            inputs=("cv", "top1"), stack=False, params=FAST)
    assert [c.layers for c in cands] == [(1,), (1,)]
    assert cands[1].info["same_as"] == "cv" and cands[1].test_pred is cands[0].test_pred


def test_resolve_inputs():
    folds = np.array([[0.5, 0.2, 0.4], [0.6, 0.1, 0.5]])  # mae: layer 1 best, then layer 2
    assert resolve_inputs(["final", "cv", "top2"], folds, "mae") == {"final": (2,), "cv": (1,), "top2": (1, 2)}
    assert resolve_inputs(["cv"], folds, "roc-auc") == {"cv": (0,)}
    with pytest.raises(ConfigError, match="unknown input 'best'"):
        resolve_inputs(["best"], folds, "mae")


@pytest.mark.parametrize("task_type,metric", [("regression", "mae"), ("classification", "roc-auc")])
def test_stacker_weights_the_informative_layer(task_type, metric):
    rng = np.random.default_rng(3)
    n = 400
    truth = rng.normal(size=n)
    P = np.column_stack([rng.normal(size=n), truth + 0.1 * rng.normal(size=n), rng.normal(size=n)])
    y = truth if task_type == "regression" else (truth > 0).astype(float)
    st = LayerStacker(task_type).fit(P, y)
    assert np.argmax(np.abs(st.coef_)) == 1
    res = stack_layers(P[:300], y[:300], 240, P[300:], task_type=task_type, metric=metric)
    assert res.test_pred.shape == (100,)
    assert (res.valid_score < 0.2) if metric == "mae" else (res.valid_score > 0.9)
    with pytest.raises(ConfigError, match="oof has"):
        stack_layers(P[:300], y[:299], 240, P[300:], task_type=task_type, metric=metric)


def _leaderboard():
    return load_benchmark("leaderboard")


def test_decision_rule_uses_mean_validation_scores():
    lb = _leaderboard()
    names = np.array(["a", "b", "c"])
    units = {1: {"names": names, "valid": np.array([0.30, 0.25, 0.40])},
             2: {"names": names, "valid": np.array([0.30, 0.37, 0.20])}}
    assert lb.choose(units, "mae")[0] == "a"  # means 0.30, 0.31, 0.30: a tie goes to the earlier
    assert lb.choose(units, "roc-auc")[0] == "b"  # higher is better: 0.31
    units[2]["valid"] = np.array([0.30, 0.37, 0.10])
    pick, means = lb.choose(units, "mae")
    assert pick == "c" and means == pytest.approx({"a": 0.30, "b": 0.31, "c": 0.25})


def test_summarize_writes_rescorable_predictions(tmp_path, data_dir, monkeypatch, capsys):
    """Fake units for hia_hou, seeds 1-2: the table's test_mean is what the written
    predictions score (sklearn's AUROC), and the chosen candidate is the best on valid."""
    from sklearn.metrics import roc_auc_score

    from molstrata.data import load_task

    monkeypatch.setenv("MOLSTRATA_DATA_DIR", str(data_dir))
    lb = _leaderboard()
    rng = np.random.default_rng(0)
    for s in (1, 2):
        n = len(load_task("hia_hou", seed=s, data_dir=data_dir).test)
        path = lb._unit_path(tmp_path / "runs", "enc", "hia_hou", s)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, names=np.array(["x", "y"]), valid=np.array([0.6, 0.7 + s / 100]),
                 test_pred=rng.random((2, n)))
    out = tmp_path / "lb.csv"
    lb.main(["summarize", "--encoder", "enc", "--tasks", "hia_hou", "--seeds", "1,2", "--out",
             str(tmp_path / "runs"), "--csv", str(out), "--predictions", str(tmp_path / "pred")])
    row = pd.read_csv(out).iloc[0]
    assert row["strategy"] == "y" and row["metric"] == "roc-auc" and row["minimol_published"] == 0.994
    scores = []
    for s in (1, 2):
        with gzip.open(tmp_path / "pred" / f"hia_hou_seed{s}.csv.gz", "rt") as fh:
            pred = pd.read_csv(fh)
        scores.append(round(roc_auc_score(pred["Y"], pred["Y_pred"]), 3))
    assert row["test_mean"] == pytest.approx(round(float(np.mean(scores)), 3), abs=1e-12)
    assert "above MiniMol's published score on" in capsys.readouterr().out


def test_summarize_final_heads_and_combine_vs_final(tmp_path, data_dir, monkeypatch, capsys):
    """The final-layer heads' per-seed rows (the report's strongest single-layer control) and
    question (b) with tuned heads: each side chosen on valid within its kind, then its test
    score (sklearn's AUROC of the unit's predictions) and the Δ% between them."""
    from sklearn.metrics import roc_auc_score

    from molstrata.data import load_task

    monkeypatch.setenv("MOLSTRATA_DATA_DIR", str(data_dir))
    lb = _leaderboard()
    rng = np.random.default_rng(1)
    names = np.array(["mlp-tuned:final", "gbdt-tuned:final", "mlp-tuned:top3", "stack"])
    preds, ys = {}, {}
    for s in (1, 2):
        split = load_task("hia_hou", seed=s, data_dir=data_dir)
        ys[s] = split.y("test")
        preds[s] = rng.random((4, len(split.test)))
        path = lb._unit_path(tmp_path / "runs", "enc", "hia_hou", s)
        path.parent.mkdir(parents=True, exist_ok=True)
        # valid: gbdt beats mlp among the final heads; stack beats top3 among the combining ones
        np.savez(path, names=names, valid=np.array([0.6, 0.8, 0.7, 0.9]), test_pred=preds[s])
    fh_path, cmp_path = tmp_path / "final_heads.csv", tmp_path / "cmp.csv"
    lb.main(["summarize", "--encoder", "enc", "--tasks", "hia_hou", "--seeds", "1,2", "--out",
             str(tmp_path / "runs"), "--csv", str(tmp_path / "lb.csv"), "--final-heads", str(fh_path),
             "--compare", str(cmp_path)])
    heads = pd.read_csv(fh_path)
    assert sorted(heads["head"].unique()) == ["gbdt-tuned:final", "mlp-tuned:final"] and len(heads) == 4
    got = heads.set_index(["head", "seed"])["test_score"]
    assert got[("gbdt-tuned:final", 2)] == pytest.approx(roc_auc_score(ys[2], preds[2][1]))
    row = pd.read_csv(cmp_path).iloc[0]
    assert row["final_head"] == "gbdt-tuned:final" and row["combine_head"] == "stack"
    final = np.mean([roc_auc_score(ys[s], preds[s][1]) for s in (1, 2)])
    combine = np.mean([roc_auc_score(ys[s], preds[s][3]) for s in (1, 2)])
    assert row["delta_pct"] == pytest.approx(100 * (combine - final) / final, abs=1e-4)
    assert "combining (tuned heads" in capsys.readouterr().out
