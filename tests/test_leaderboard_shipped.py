"""The shipped tuned-heads leaderboards (issue 21: MiniMol, and the built-in default)
re-scored from their shipped predictions.

Each row of ``benchmarks/results/leaderboard_<encoder>.csv`` must be reproduced from
``leaderboard_<encoder>_predictions/<task>_seed<s>.csv.gz`` (seeds 1-5) with scikit-learn /
SciPy's metrics, TDC's way (each seed rounded to 3 decimals, then the mean and the population
std rounded to 3), and the predictions' ``Drug_ID`` / ``Y`` must be the TDC test split's.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, mean_absolute_error, roc_auc_score

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
ENCODERS = ("minimol", "default", "smiles_stage4")
SEEDS = (1, 2, 3, 4, 5)
METRICS = {
    "mae": mean_absolute_error,
    "roc-auc": roc_auc_score,
    "pr-auc": average_precision_score,
    "spearman": lambda y, p: spearmanr(y, p)[0],
}
COLUMNS = ["task", "metric", "strategy", "test_mean", "test_std", "minimol_published", "tdc_top"]


def _table(encoder: str) -> Path:
    table = RESULTS / f"leaderboard_{encoder}.csv"
    if not table.is_file():
        pytest.fail(f"{table} is not shipped")
    return table


def _predictions(encoder: str) -> Path:
    return RESULTS / f"leaderboard_{encoder}_predictions"


def _rows(encoder: str) -> list[dict[str, str]]:
    with open(_table(encoder), newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_table_columns_and_tasks(encoder):
    with open(_table(encoder), newline="") as fh:
        header = next(csv.reader(fh))
    assert header == COLUMNS
    rows = _rows(encoder)
    assert len(rows) == 22
    assert rows and len({r["task"] for r in rows}) == len(rows)
    for r in rows:
        assert r["metric"] in METRICS and r["strategy"]
        float(r["minimol_published"]), float(r["tdc_top"])


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("seed", SEEDS)
def test_predictions_are_the_test_split(data_dir, seed, encoder):
    from molstrata.data import load_task

    for r in _rows(encoder)[:3]:  # three tasks per seed: the labels and ids are TDC's test split
        split = load_task(r["task"], seed=seed, data_dir=data_dir)
        pred = pd.read_csv(_predictions(encoder) / f"{r['task']}_seed{seed}.csv.gz")
        assert list(pred.columns) == ["Drug_ID", "Y", "Y_pred"]
        assert pred["Drug_ID"].astype(str).tolist() == split.test["Drug_ID"].astype(str).tolist()
        np.testing.assert_allclose(pred["Y"].to_numpy(), split.y("test"))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_rescoring_reproduces_test_mean(encoder):
    for r in _rows(encoder):
        scores = []
        for s in SEEDS:
            path = _predictions(encoder) / f"{r['task']}_seed{s}.csv.gz"
            assert path.is_file(), f"missing {path.name}"
            pred = pd.read_csv(path)
            assert np.isfinite(pred["Y_pred"]).all(), path.name
            scores.append(round(float(METRICS[r["metric"]](pred["Y"], pred["Y_pred"])), 3))
        assert round(float(np.mean(scores)), 3) == pytest.approx(float(r["test_mean"]), abs=1e-9), r["task"]
        assert round(float(np.std(scores)), 3) == pytest.approx(float(r["test_std"]), abs=1e-9), r["task"]
