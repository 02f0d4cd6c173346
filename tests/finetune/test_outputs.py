"""Output tables from known results: Δ%, selection on validation, correlations, combining."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from molstrata.finetune import FinetuneResult
from molstrata.finetune.outputs import write_combined, write_outputs

# (layer, seed) -> (valid, test) MAE; layer 4 is the full depth
CELLS = {(2, 1): (0.50, 0.40), (3, 1): (0.45, 0.42), (4, 1): (0.48, 0.50),
         (2, 2): (0.47, 0.44), (3, 2): (0.49, 0.41), (4, 2): (0.46, 0.52)}
FROZEN_TEST = {0: 0.9, 1: 0.8, 2: 0.6, 3: 0.62, 4: 0.7}


def _results(task):
    out = {}
    for (k, s), (v, t) in CELLS.items():
        hist = pd.DataFrame({"lr": [1e-4, 1e-4, 2e-4], "epoch": [1, 2, 1],
                             "train_loss": [1.0, 0.9, 1.0], "valid_score": [v + 0.1, v, v + 0.2]})
        out[(k, s)] = FinetuneResult(task, "mae", "regression", k, s, hist, 1e-4, 2, v, t,
                                     np.array([1.0, 2.0, 3.0]))
    return out


def _frozen(task):
    rows = [{"encoder": "e", "task": task, "metric": "mae", "layer": k, "split": split,
             "score": score + 0.01 * s, "seed": s}
            for k, score in FROZEN_TEST.items() for split in ("valid", "test") for s in (1, 2)]
    return pd.DataFrame(rows)


def _splits():
    test = pd.DataFrame({"Drug_ID": ["a", "b", "c"], "Drug": ["C", "CC", "CCC"], "Y": [1.0, 2.0, 4.0]})
    return {s: type("S", (), {"test": test})() for s in (1, 2)}


def test_tables_from_known_results(tmp_path):
    res = write_outputs(tmp_path, encoder="e", task="t", num_layers=4, results=_results("t"),
                        frozen=_frozen("t"), splits=_splits())
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("layer")
    full = np.mean([0.50, 0.52])
    assert summary.loc[2, "test_mean"] == pytest.approx(0.42)
    assert summary.loc[2, "test_std"] == pytest.approx(0.02)  # population std over seeds
    assert summary.loc[2, "delta_pct"] == pytest.approx(100 * (full - 0.42) / full)
    assert summary.loc[4, "delta_pct"] == pytest.approx(0.0)
    sel = pd.read_csv(tmp_path / "selection.csv").set_index("seed")
    assert sel.loc[1, "selected_layer"] == 3 and sel.loc[2, "selected_layer"] == 4  # valid argmin
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert board == {"t": [round(np.mean([0.42, 0.52]), 3), round(np.std([0.42, 0.52]), 3)]}
    long = pd.read_csv(tmp_path / "finetune_results.csv")
    assert len(long[long.split == "test"]) == len(CELLS)
    assert long[(long.split == "valid") & long.selected].epoch.eq(2).all()
    # frozen (mean over seeds) vs finetuned (mean over seeds) at layers 2, 3, 4
    fz = [FROZEN_TEST[k] + 0.015 for k in (2, 3, 4)]
    ft = [np.mean([CELLS[(k, 1)][1], CELLS[(k, 2)][1]]) for k in (2, 3, 4)]
    assert res["correlations"]["pearson_test"] == pytest.approx(np.corrcoef(fz, ft)[0, 1])
    pred = pd.read_csv(tmp_path / "predictions" / "t_layer2_seed1.csv")
    assert list(pred.columns) == ["Drug_ID", "Y", "Y_pred"]


def test_combined_report_over_tasks(tmp_path):
    runs = {t: write_outputs(tmp_path / t, encoder="e", task=t, num_layers=4,
                             results=_results(t), frozen=_frozen(t), splits=_splits())
            for t in ("t1", "t2")}
    combined = write_combined(tmp_path, "e", runs)
    assert json.loads((tmp_path / "leaderboard.json").read_text()).keys() == {"t1", "t2"}
    assert set(pd.read_csv(tmp_path / "summary.csv").task) == {"t1", "t2"}
    assert len(combined["correlations"]) == 2
    assert "median" in (tmp_path / "report.md").read_text()
