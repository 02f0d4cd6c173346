"""Label-free recommendation, metric-probe correlation and regret on constructed tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from molstrata.analysis import metric_probe_correlation, recommend_layer, regret_table
from molstrata.core.errors import ConfigError


def _long(metrics: dict, encoder="enc") -> pd.DataFrame:
    rows = []
    for m, vals in metrics.items():
        for k, v in enumerate(vals):
            rows.append({"encoder": encoder, "layer": k, "relative_depth": k / (len(vals) - 1),
                         "metric": m, "value": v})
    return pd.DataFrame(rows)


def test_rule_excludes_layer_zero_and_breaks_ties_shallow():
    ent = [0.99, 0.5, 0.8, 0.8, 0.3]
    assert recommend_layer({"dataset_entropy": ent}) == 2
    assert recommend_layer(_long({"dataset_entropy": ent})) == 2
    with pytest.raises(ConfigError, match="needs metric 'lidar'"):
        recommend_layer({"dataset_entropy": ent}, rule="lidar")
    with pytest.raises(ConfigError, match="valid choices"):
        recommend_layer({"dataset_entropy": ent}, rule="oracle")


def test_consensus_uses_mean_rank_of_available_metrics():
    m = {"dataset_entropy": [0, 1, 3, 2], "lidar": [0, 3, 2, 1], "dime": [9, 1, 3, 2],
         "infonce_mi": [np.nan] * 4}
    # ranks: entropy (1,2,4,3), lidar (1,4,3,2), dime (4,1,3,2) → means (2, 2.33, 3.33, 2.33)
    assert recommend_layer(m, rule="consensus") == 2


def _probes(valid_fn, test_fn, metric="roc-auc", n_layers=5, seeds=(1, 2), task="t1"):
    rows = []
    for s in seeds:
        for k in range(n_layers):
            rows.append(("enc", task, metric, k, s, "valid", valid_fn(k, s)))
            rows.append(("enc", task, metric, k, s, "test", test_fn(k, s)))
    return pd.DataFrame(rows, columns=["encoder", "task", "metric", "layer", "seed", "split", "score"])


def test_spearman_sign_follows_the_task_orientation():
    lm = _long({"dataset_entropy": [0.1, 0.2, 0.3, 0.4, 0.5]})
    auc = _probes(lambda k, s: 0.5 + 0.01 * k, lambda k, s: 0.0)
    mae = _probes(lambda k, s: 1.0 - 0.1 * k, lambda k, s: 0.0, metric="mae", task="t2")
    out = metric_probe_correlation(lm, pd.concat([auc, mae]))
    got = out.set_index("task")["spearman"]
    assert got["t1"] == pytest.approx(1.0)  # entropy up, AUROC up
    assert got["t2"] == pytest.approx(1.0)  # entropy up, MAE down = better
    assert set(out["n_layers"]) == {5}


def test_correlation_ignores_test_scores():
    lm = _long({"dataset_entropy": [0.1, 0.2, 0.3, 0.4, 0.5]})
    a = _probes(lambda k, s: -k, lambda k, s: k)
    b = _probes(lambda k, s: -k, lambda k, s: -k * 7.0)
    assert metric_probe_correlation(lm, a)["spearman"].iloc[0] == pytest.approx(-1.0)
    pd.testing.assert_frame_equal(metric_probe_correlation(lm, a), metric_probe_correlation(lm, b))


def test_regret_table_by_hand():
    lm = _long({"dataset_entropy": [0.0, 0.2, 0.9, 0.4, 0.1]})  # recommends layer 2
    valid = {1: [0.1, 0.2, 0.3, 0.6, 0.5], 2: [0.1, 0.7, 0.3, 0.2, 0.5]}  # selects 3, then 1
    test = {1: [0.0, 0.4, 0.5, 0.45, 0.3], 2: [0.0, 0.6, 0.52, 0.2, 0.35]}
    pr = _probes(lambda k, s: valid[s][k], lambda k, s: test[s][k])
    row = regret_table(lm, pr).iloc[0]
    assert row["recommended_layer"] == 2 and row["final_layer"] == 4
    assert row["selected_layers"] == "3,1"
    assert row["test_recommended"] == pytest.approx((0.5 + 0.52) / 2)
    assert row["test_selected"] == pytest.approx((0.45 + 0.6) / 2)
    assert row["test_final"] == pytest.approx((0.3 + 0.35) / 2)
    assert row["regret_vs_selected"] == pytest.approx(0.525 - 0.51)
    assert row["gain_vs_final"] == pytest.approx(0.51 - 0.325)


def test_regret_is_sign_corrected_for_mae():
    lm = _long({"dataset_entropy": [0.0, 0.9, 0.1]})  # recommends 1
    pr = _probes(lambda k, s: [3.0, 2.0, 1.0][k], lambda k, s: [3.0, 2.0, 1.0][k],
                 metric="mae", n_layers=3, seeds=(1,))
    row = regret_table(lm, pr).iloc[0]
    assert row["selected_layers"] == "2"  # lowest validation MAE
    assert row["test_recommended"] == pytest.approx(2.0)
    assert row["regret_vs_selected"] == pytest.approx(1.0)  # 1 MAE unit worse
    assert row["gain_vs_final"] == pytest.approx(-1.0)


def test_probe_table_errors_name_missing_columns():
    lm = _long({"dataset_entropy": [0.1, 0.2, 0.3]})
    with pytest.raises(ConfigError, match="lack column"):
        metric_probe_correlation(lm, pd.DataFrame({"encoder": ["enc"], "score": [1.0]}))
    other = _probes(lambda k, s: k, lambda k, s: k).assign(encoder="other")
    with pytest.raises(ConfigError, match="no encoder in common"):
        metric_probe_correlation(lm, other)
