"""`molstrata finetune` end to end: a tiny random HF RoBERTa folder (through the real HF
adapter) on a small TDC task."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from molstrata.core.errors import ConfigError

OPTS = ["--task", "hia_hou", "--seeds", "1", "--lrs", "1e-3,1e-4", "--epochs", "1",
        "--batch-size", "32", "--top-m", "1", "--device", "cpu"]


@pytest.fixture
def cli_args(monkeypatch, data_dir, tiny_roberta_dir):
    """``molstrata finetune`` arguments with the tiny 3-block RoBERTa folder as encoder."""
    monkeypatch.setenv("MOLSTRATA_DATA_DIR", str(data_dir))
    return ["finetune", "--encoder", str(tiny_roberta_dir), *OPTS]


@pytest.fixture
def app():
    from molstrata.cli import app

    return app


def test_finetune_command_writes_the_run_folder(cli_args, app, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [*cli_args, "--out", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    for name in ("finetune_results.csv", "frozen_results.csv", "summary.csv", "selection.csv",
                 "leaderboard.json", "config.toml", "report.md", "report.html",
                 "figures/score_vs_depth.png"):
        assert (out / name).is_file(), name
    # two finetuned depths: no frozen-vs-finetuned scatter, no Pearson r (#20, item 9)
    assert not (out / "figures" / "frozen_vs_finetuned.png").exists()
    assert "n/a (needs ≥ 3 depths, got 2)" in (out / "report.md").read_text()

    frozen = pd.read_csv(out / "frozen_results.csv")
    # auto = the best truncated depth (1..2) by frozen VALIDATION roc-auc, plus the final layer 3
    fv = frozen[(frozen.split == "valid") & frozen.layer.between(1, 2)].set_index("layer")["score"]
    expected_layers = sorted({int(fv.idxmax()), 3})

    res = pd.read_csv(out / "finetune_results.csv")
    assert list(res.columns[:9]) == ["encoder", "task", "metric", "layer", "seed", "lr", "epoch",
                                     "split", "score"]
    assert sorted(res.layer.unique()) == expected_layers
    test_rows = res[res.split == "test"].set_index("layer")
    assert len(test_rows) == len(expected_layers)  # test scored once per (layer, seed)
    for k, row in test_rows.iterrows():  # the test row is the validation-best (lr, epoch)
        valid = res[(res.layer == k) & (res.split == "valid")]
        best = valid.loc[valid.score.idxmax()]
        assert (row.lr, row.epoch) == (best.lr, best.epoch)
        # and its score re-computes from the written predictions (independent sklearn)
        from sklearn.metrics import roc_auc_score

        pred = pd.read_csv(out / "predictions" / f"hia_hou_layer{k}_seed1.csv")
        assert row.score == pytest.approx(roc_auc_score(pred.Y, pred.Y_pred))

    summary = pd.read_csv(out / "summary.csv").set_index("layer")
    full = test_rows.loc[3, "score"]
    for k in expected_layers:  # paper's formula for roc-auc: (trunc - full) / full
        assert summary.loc[k, "delta_pct"] == pytest.approx(100 * (test_rows.loc[k, "score"] - full) / full)
    board = json.loads((out / "leaderboard.json").read_text())
    assert list(board) == ["hia_hou"] and len(board["hia_hou"]) == 2
    assert "Pearson r" in (out / "report.md").read_text()

    # rerun with the same options: every cell is read back, nothing changes
    again = CliRunner().invoke(app, [*cli_args, "--out", str(out)])
    assert again.exit_code == 0, again.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "finetune_results.csv"), res)


def test_bad_layers_are_refused(cli_args, app, tmp_path):
    result = CliRunner().invoke(app, [*cli_args, "--layers", "0,9", "--out", str(tmp_path / "a")])
    assert isinstance(result.exception, ConfigError)
    assert "1..3" in str(result.exception)
    with pytest.raises(ConfigError, match="invalid --lrs"):
        from molstrata.cli.finetune import _floats

        _floats("1e-4,abc", "--lrs")


def test_summary_delta_uses_the_mae_formula():
    from molstrata.finetune.outputs import delta_pct

    assert delta_pct(0.50, 0.40, "mae") == pytest.approx(20.0)  # lower MAE is a gain
    assert delta_pct(0.80, 0.88, "roc-auc") == pytest.approx(10.0)
    assert np.isnan(delta_pct(0.0, 0.3, "spearman"))
