"""``build_report`` draws from the tables only, and fails clearly on a wrong folder."""

from __future__ import annotations

import pandas as pd
import pytest

from molstrata.core.errors import ConfigError, DataNotFoundError
from molstrata.report import build_report


def _tables(folder):
    rows = []
    for enc, shift in (("enc-a", 0.0), ("enc-b", 0.05)):
        for task, metric in (("caco2_wang", "mae"), ("herg", "roc-auc")):
            for seed in (1, 2):
                for layer in range(3):
                    for split in ("valid", "test"):
                        rows.append((enc, task, metric, layer, seed, split, 0.5 + 0.1 * layer + shift + 0.01 * seed))
    pd.DataFrame(rows, columns=["encoder", "task", "metric", "layer", "seed", "split", "score"]).to_csv(
        folder / "probe_results.csv", index=False)
    summary = pd.DataFrame([
        ("enc-a", "caco2_wang", "mae", 2, "0;0", 0.715, 0.005, 0.515, 0.005, 27.972, 0, 27.972),
        ("enc-a", "herg", "roc-auc", 2, "2;2", 0.715, 0.005, 0.715, 0.005, 0.0, 2, 0.0),
        ("enc-b", "caco2_wang", "mae", 2, "0;1", 0.765, 0.005, 0.615, 0.05, 19.608, 0, 26.144),
        ("enc-b", "herg", "roc-auc", 2, "2;2", 0.765, 0.005, 0.765, 0.005, 0.0, 2, 0.0),
    ], columns=["encoder", "task", "metric", "final_layer", "selected_layers", "final_test_mean",
                "final_test_std", "selected_test_mean", "selected_test_std", "delta_pct",
                "oracle_layer", "oracle_delta_pct"])
    summary.to_csv(folder / "summary.csv", index=False)


def test_report_from_tables(tmp_path):
    _tables(tmp_path)
    (tmp_path / "notes.txt").write_text("enc-a: 2 molecule(s) could not be embedded\n")
    path = build_report(tmp_path)
    text = path.read_text()
    # enc-b caco2: final 0.765 ± 0.005, selected 0.615 ± 0.050, +19.6% = 0.615 - 0.765 = -0.150;
    # layers 0 and 1 of 3 -> relative depths 0 and 0.5, mean 0.25
    assert "| enc-b | caco2_wang | mae (lower is better) | 0.765 ± 0.005 | 0.615 ± 0.050 | +19.6% (-0.150) | 0, 1 | 0.25 |" in text
    # overview, by hand: mean/median Δ% (19.608 + 0) / 2; better on 1, worse on 0
    assert "| enc-b | 2 | +9.8% | +9.8% | 1 / 0 |" in text
    assert "| enc-a | 2 | +14.0% | +14.0% | 1 / 0 |" in text
    assert "2 molecule(s) could not be embedded" in text
    for fig in ("depth_curves", "delta_heatmap", "optimism_heatmap", "selected_depth_hist", "layer_weights"):
        assert (tmp_path / "figures" / f"{fig}.png").stat().st_size > 2000
        assert f"figures/{fig}.png" in text


def test_report_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="no such run folder"):
        build_report(tmp_path / "missing")
    with pytest.raises(DataNotFoundError, match="probe_results.csv"):
        build_report(tmp_path)
    _tables(tmp_path)
    (tmp_path / "summary.csv").unlink()
    with pytest.raises(DataNotFoundError, match="summary.csv"):
        build_report(tmp_path)
    _tables(tmp_path)
    pd.read_csv(tmp_path / "summary.csv").drop(columns=["delta_pct"]).to_csv(tmp_path / "summary.csv", index=False)
    with pytest.raises(ConfigError, match="delta_pct"):
        build_report(tmp_path)
