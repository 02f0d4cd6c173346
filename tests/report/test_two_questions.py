"""benchmarks/two_questions.py (issue 21 item 5) on a hand-made per-seed table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench_scripts import load_benchmark


@pytest.fixture(scope="module")
def tq():
    return load_benchmark("two_questions")


def _seeds(valid_weights: str = "0;1;0") -> pd.DataFrame:
    rows = []
    # caco2 (MAE): final 0.5 every seed; valid 0.45, ensemble 0.40 -> Δ% +10% and +20%
    # hia (AUROC): final 0.8; valid 0.84 -> +5%; ensemble 0.76 -> -5%
    # vdss (Spearman): final 0.5; valid 0.55 -> +10%; ensemble 0.60 -> +20%
    for task, metric, final, valid, ens in (("caco2_wang", "mae", 0.5, 0.45, 0.40),
                                            ("hia_hou", "roc-auc", 0.8, 0.84, 0.76),
                                            ("vdss_lombardo", "spearman", 0.5, 0.55, 0.60)):
        for seed in (1, 2, 3):
            rows.append(("e", task, metric, seed, "valid", "1", valid, final, valid_weights))
            rows.append(("e", task, metric, seed, "ensemble", "ens", ens, final, "0.5;0.5;0"))
    return pd.DataFrame(rows, columns=["encoder", "task", "metric", "seed", "strategy", "choice", "test_score",
                                       "final_test_score", "weights"])


def test_answers_by_hand(tq):
    out = tq.answer(_seeds(), "enc").set_index(["strategy", "tasks"])
    a = out.loc[("valid", "all")]
    assert a["question"] == "a" and a["n_tasks"] == 3 and a["n_seeds"] == 3
    assert a["mean_delta_pct"] == pytest.approx((10 + 5 + 10) / 3)
    assert (a["better"], a["worse"]) == (3, 0)
    # every seed gives the same difference: the paired intervals have no width, all above 0
    assert a["ci_above_0"] == 3 and a["ci_below_0"] == 0
    # Wilcoxon of 10, 5, 10: all positive -> W = 0; exact p = 2 * 1/8 = 0.25
    assert a["wilcoxon_w"] == 0 and a["wilcoxon_p"] == pytest.approx(0.25)
    b = out.loc[("ensemble", "without spearman")]
    assert b["question"] == "b" and b["n_tasks"] == 2
    assert b["mean_delta_pct"] == pytest.approx((20 - 5) / 2)
    assert (b["better"], b["worse"], b["ci_above_0"], b["ci_below_0"]) == (1, 1, 1, 1)


def test_refuses_a_combination_among_single_layer_rows(tq):
    with pytest.raises(SystemExit, match="not all one layer"):
        tq.answer(_seeds(valid_weights="0;0.5;0.5"), "enc")


def test_seed_table_adds_valid_rows_and_scores(tmp_path):
    from run_tables import write_run

    table = load_benchmark("seed_table").seed_table(write_run(tmp_path, "ensemble")).set_index(["task", "seed", "strategy"])
    # valid rows from probe_results.csv: caco2 seed 1 valid MAE 0.45, 0.47, 0.60 -> layer 0, test 0.50
    v = table.loc[("caco2_wang", 1, "valid")]
    assert (v["choice"], v["test_score"], v["final_test_score"]) == ("0", 0.50, 0.60)
    assert (v["valid_score"], v["final_valid_score"]) == (0.45, 0.60)
    # hia seed 2: valid AUROC 0.61, 0.66, 0.64 -> layer 1 (test 0.78)
    assert table.loc[("hia_hou", 2, "valid"), "test_score"] == 0.78
    # the ensemble's rows keep their scores; its seed-2 caco2 weights are one-hot on layer 2
    e = table.loc[("caco2_wang", 2, "ensemble")]
    assert e["test_score"] == 0.47 and e["valid_score"] == 0.55 and e["final_valid_score"] == 0.55
    assert np.isnan(table.loc[("caco2_wang", 1, "ensemble"), "valid_score"])  # weights 0.5 / 0.5
