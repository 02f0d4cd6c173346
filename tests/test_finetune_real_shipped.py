"""The shipped finetune trials of issue 23 (``benchmarks/results/finetune_real_<encoder>_*.csv``)
re-derived from the trials file alone, by code written here (not the code that made them).

Checks: the issue's columns; per (task, seed, depth) cell exactly one selected row, the only
one with a test score, and it is the best validation score of the cell (ties: the smaller
learning rate); the two convergence rules (selected epoch below the cap, selected rate
strictly inside the cell's grid, each in >= 80% of cells); the validation-chosen depth per
(task, seed) and its Δ% vs the full depth in ``_chosen_depth.csv``; the pooled "vs full" rows
(mean over tasks within a seed, Student-t 95% interval over seeds) in ``_pooled.csv``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
COLUMNS = ["task", "seed", "depth", "lr", "epoch", "max_epochs", "valid_score", "test_score", "selected"]
LOWER_IS_BETTER = {"mae", "rmse"}
SHIPPED = {"minimol": 16, "molstrata-graph": 5}  # encoder -> full depth


def _load(encoder: str) -> tuple[pd.DataFrame, dict[str, str]]:
    path = RESULTS / f"finetune_real_{encoder}_trials.csv"
    if not path.is_file():
        pytest.fail(f"{path} is not shipped")
    trials = pd.read_csv(path)
    summary = pd.read_csv(RESULTS / f"finetune_real_{encoder}_summary.csv")
    metrics = dict(summary[["task", "metric"]].drop_duplicates().itertuples(index=False))
    return trials, metrics


def _gain(ref: float, other: float, metric: str) -> float:
    return 100 * ((ref - other) if metric in LOWER_IS_BETTER else (other - ref)) / ref


@pytest.mark.parametrize("encoder", sorted(SHIPPED))
def test_selection_is_the_best_validation_row_and_test_is_read_once(encoder):
    trials, metrics = _load(encoder)
    assert list(trials.columns) == COLUMNS
    assert set(trials["task"]) == set(metrics)
    for (task, _, _), g in trials.groupby(["task", "seed", "depth"]):
        sel = g[g["selected"]]
        assert len(sel) == 1 and g.loc[~g["selected"], "test_score"].isna().all()
        assert np.isfinite(sel["test_score"].iloc[0])
        sign = -1.0 if metrics[task] in LOWER_IS_BETTER else 1.0
        best = (sign * g["valid_score"]).max()
        ties = g[np.isclose(sign * g["valid_score"], best, rtol=0, atol=1e-12)]
        assert sel["lr"].iloc[0] == ties["lr"].min()


@pytest.mark.parametrize("encoder", sorted(SHIPPED))
def test_convergence_rules_hold(encoder):
    trials, _ = _load(encoder)
    key = ["task", "seed", "depth"]
    grid = trials.groupby(key)["lr"].agg(["min", "max"])
    sel = trials[trials["selected"]].set_index(key).join(grid)
    below = (sel["epoch"] < sel["max_epochs"]).mean()
    inside = ((sel["lr"] > sel["min"]) & (sel["lr"] < sel["max"])).mean()
    assert below >= 0.8 and inside >= 0.8, (below, inside)


@pytest.mark.parametrize("encoder", sorted(SHIPPED))
def test_chosen_depth_and_pooled_rows_follow_from_the_trials(encoder):
    trials, metrics = _load(encoder)
    full_depth = SHIPPED[encoder]
    sel = trials[trials["selected"]]
    rows = []
    for (task, seed), g in sel.groupby(["task", "seed"]):
        sign = -1.0 if metrics[task] in LOWER_IS_BETTER else 1.0
        g = g.sort_values("depth")
        v = g.iloc[int(np.argmax(sign * g["valid_score"].to_numpy()))]  # first max = shallowest
        full = g.loc[g["depth"] == full_depth, "test_score"].iloc[0]
        rows.append((task, seed, int(v["depth"]), _gain(full, v["test_score"], metrics[task])))
    mine = pd.DataFrame(rows, columns=["task", "seed", "valid_depth", "delta_valid_choice"])
    shipped = pd.read_csv(RESULTS / f"finetune_real_{encoder}_chosen_depth.csv")
    pd.testing.assert_frame_equal(shipped[mine.columns].sort_values(["task", "seed"]).reset_index(drop=True),
                                  mine.sort_values(["task", "seed"]).reset_index(drop=True), check_dtype=False)
    pooled = pd.read_csv(RESULTS / f"finetune_real_{encoder}_pooled.csv").set_index("quantity")
    per_seed = mine.groupby("seed")["delta_valid_choice"].mean().to_numpy()
    half = stats.t.ppf(0.975, len(per_seed) - 1) * per_seed.std(ddof=1) / np.sqrt(len(per_seed))
    got = pooled.loc["delta_valid_choice", ["mean", "low", "high"]].to_numpy(dtype=float)
    np.testing.assert_allclose(got, [per_seed.mean(), per_seed.mean() - half, per_seed.mean() + half], rtol=1e-9)
    for depth in sorted(set(sel["depth"]) - {full_depth}):
        d = [_gain(sel[(sel.task == t) & (sel.seed == s) & (sel.depth == full_depth)]["test_score"].iloc[0],
                   v, metrics[t])
             for t, s, v in sel[sel.depth == depth][["task", "seed", "test_score"]].itertuples(index=False)]
        per_seed = pd.Series(d).groupby(sel[sel.depth == depth]["seed"].to_numpy()).mean()
        assert pooled.loc[f"depth {depth} vs full", "mean"] == pytest.approx(per_seed.mean(), rel=1e-9)
