"""The shipped MiniMol leaderboard (issue 21) re-scored from its shipped predictions.

Each row of ``benchmarks/results/leaderboard_minimol.csv`` must be reproduced from
``leaderboard_minimol_predictions/<task>_seed<s>.csv.gz`` (seeds 1-5) with scikit-learn /
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
TABLE = RESULTS / "leaderboard_minimol.csv"
PREDICTIONS = RESULTS / "leaderboard_minimol_predictions"
SEEDS = (1, 2, 3, 4, 5)
METRICS = {
    "mae": mean_absolute_error,
    "roc-auc": roc_auc_score,
    "pr-auc": average_precision_score,
    "spearman": lambda y, p: spearmanr(y, p)[0],
}
COLUMNS = ["task", "metric", "strategy", "test_mean", "test_std", "minimol_published", "tdc_top"]


def _rows() -> list[dict[str, str]]:
    if not TABLE.is_file():
        pytest.fail(f"{TABLE} is not shipped")
    with open(TABLE, newline="") as fh:
        return list(csv.DictReader(fh))


def test_table_columns_and_tasks():
    with open(TABLE if TABLE.is_file() else pytest.fail(f"{TABLE} is not shipped"), newline="") as fh:
        header = next(csv.reader(fh))
    assert header == COLUMNS
    rows = _rows()
    assert rows and len({r["task"] for r in rows}) == len(rows)
    for r in rows:
        assert r["metric"] in METRICS and r["strategy"]
        float(r["minimol_published"]), float(r["tdc_top"])


@pytest.mark.parametrize("seed", SEEDS)
def test_predictions_are_the_test_split(data_dir, seed):
    from molstrata.data import load_task

    for r in _rows()[:3]:  # three tasks per seed: the labels and ids are TDC's test split
        split = load_task(r["task"], seed=seed, data_dir=data_dir)
        pred = pd.read_csv(PREDICTIONS / f"{r['task']}_seed{seed}.csv.gz")
        assert list(pred.columns) == ["Drug_ID", "Y", "Y_pred"]
        assert pred["Drug_ID"].astype(str).tolist() == split.test["Drug_ID"].astype(str).tolist()
        np.testing.assert_allclose(pred["Y"].to_numpy(), split.y("test"))


def test_rescoring_reproduces_test_mean():
    for r in _rows():
        scores = []
        for s in SEEDS:
            path = PREDICTIONS / f"{r['task']}_seed{s}.csv.gz"
            assert path.is_file(), f"missing {path.name}"
            pred = pd.read_csv(path)
            assert np.isfinite(pred["Y_pred"]).all(), path.name
            scores.append(round(float(METRICS[r["metric"]](pred["Y"], pred["Y_pred"])), 3))
        assert round(float(np.mean(scores)), 3) == pytest.approx(float(r["test_mean"]), abs=1e-9), r["task"]
        assert round(float(np.std(scores)), 3) == pytest.approx(float(r["test_std"]), abs=1e-9), r["task"]
