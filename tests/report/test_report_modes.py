"""The probe report is coherent in every selection mode (issue #20, items 1-3): no empty
figure, weight-averaged depths, the combination's own score on the depth curves, labels
explained, gain of combining and optimism of test-picking apart on one colour scale,
absolute differences, the seed-spread flag, the fingerprint baseline."""

from __future__ import annotations

import re

import matplotlib.figure
import pandas as pd
import pytest
from run_tables import write_run

from molstrata.report import build_report


@pytest.fixture
def saved(monkeypatch):
    """{file name: Figure} of every figure the report saves (still written to disk)."""
    figures = {}
    original = matplotlib.figure.Figure.savefig

    def savefig(self, path, *args, **kwargs):
        figures[str(path).rsplit("/", 1)[-1]] = self
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return figures


def _rows(text: str, task: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith(f"| enc | {task} |")]


@pytest.mark.parametrize("mode", ["valid", "cv", "ensemble"])
def test_no_empty_figure_in_any_mode(tmp_path, mode, saved):
    text = build_report(write_run(tmp_path, mode)).read_text()
    linked = re.findall(r"\]\((figures/[^)]+\.png)\)", text)
    assert "figures/selected_depth_hist.png" in linked and "figures/layer_weights.png" in linked
    for name in linked:
        assert (tmp_path / name).stat().st_size > 2000, name
    # the depth histogram counts every (task, seed) pair: 2 tasks x 2 seeds
    assert "n = 4 (task, seed) pairs" in text
    hist = saved["selected_depth_hist.png"].axes[0]
    assert sum(p.get_height() for p in hist.patches) == 4
    assert "| nan |" not in text and "n=0" not in text


def test_ensemble_depths_weights_and_labels(tmp_path, saved):
    text = build_report(write_run(tmp_path, "ensemble")).read_text()
    # weight-averaged depth, by hand: caco2 (0.5*0 + 0.5*1) = 0.5 and 1.0 -> 0.75;
    # hia (0 + 1/3*0.5 + 1/3*1) = 0.5 and 0.8*0.5 = 0.4 -> 0.45
    assert _rows(text, "caco2_wang")[0][-1] == "0.75"
    assert _rows(text, "hia_hou")[0][-1] == "0.45"
    assert text.count("`ens t=T` averages every layer's probe") == 1
    # the task x layer heatmap holds the mean weights over seeds
    image = saved["layer_weights.png"].axes[0].images[0].get_array()
    assert image[0].tolist() == pytest.approx([0.25, 0.0, 0.75])  # caco2_wang
    assert image[1].tolist() == pytest.approx([(1 / 3 + 0.2) / 2, (1 / 3 + 0.8) / 2, 1 / 6])


def test_depth_curves_draw_the_combination(tmp_path, saved):
    build_report(write_run(tmp_path, "ensemble"))
    ax = saved["depth_curves.png"].axes[0]  # caco2_wang
    stars = [ln for ln in ax.lines if ln.get_marker() == "*"]
    assert len(stars) == 1
    assert stars[0].get_xdata()[0] == pytest.approx(0.75)
    assert stars[0].get_ydata()[0] == pytest.approx(0.46)  # the ensemble's own mean test score


def test_gain_and_optimism_apart_on_one_scale(tmp_path, saved):
    text = build_report(write_run(tmp_path, "ensemble")).read_text()
    # optimism, by hand: caco2 valid-picked single layer 0.47 vs oracle 0.42 (MAE) ->
    # (0.47 - 0.42) / 0.47 = +10.6%, abs. -0.050; hia 0.765 vs 0.79 -> +3.3%, +0.025
    opt = [r for r in _rows(text, "caco2_wang") if "0.470 ± 0.030" in r]
    assert opt and opt[0][-1] == "+10.6% (-0.050)" and opt[0][-3] == "1"
    assert [r for r in _rows(text, "hia_hou") if "0.765 ± 0.015" in r][0][-1] == "+3.3% (+0.025)"
    # gain of combining: caco2 final 0.59 vs ensemble 0.46 -> +22.0%, abs. -0.130
    assert _rows(text, "caco2_wang")[0][5] == "+22.0% (-0.130)"
    assert "| 0.460 ± 0.010 (+22.0%, -0.130) |" in text  # the strategies' table too
    gain = saved["delta_heatmap.png"].axes[0].images[0].get_clim()
    optimism = saved["optimism_heatmap.png"].axes[0].images[0].get_clim()
    assert gain == optimism == pytest.approx((-100 * 0.13 / 0.59, 100 * 0.13 / 0.59))
    assert "## Gain of combining" in text and "## Optimism of test-picking" in text


def test_delta_within_seed_spread_is_flagged(tmp_path):
    text = build_report(write_run(tmp_path, "ensemble")).read_text()
    # hia: ensemble 0.764 vs final 0.760, a difference of 0.004 < the seeds' std 0.01
    assert _rows(text, "hia_hou")[0][5] == "+0.5% (+0.004) ≈"
    assert not _rows(text, "caco2_wang")[0][5].endswith("≈")


def test_baseline_and_leaderboard_columns(tmp_path):
    run = write_run(tmp_path, "valid")
    pd.DataFrame({"baseline": "ecfp4-counts", "task": ["caco2_wang"] * 2, "metric": "mae", "seed": [1, 2],
                  "valid_score": [0.5, 0.5], "test_score": [0.55, 0.61]}).to_csv(run / "baseline.csv", index=False)
    text = build_report(run).read_text()
    row = [r for r in _rows(text, "caco2_wang") if "0.580 ± 0.030" in r]
    # valid choice 0.47 vs ECFP4 0.58: -0.110 (MAE, lower is better)
    assert row and row[0][5] == "-0.110"
    hia = [r for r in _rows(text, "hia_hou") if "not run" in r]
    # the shipped leaderboard: hia_hou's rank 1 (RFStacker, 0.988) vs our valid choice 0.765
    assert hia and hia[0][-2] == "0.988 (RFStacker, 2023-02-02)" and hia[0][-1] == "-0.223"


def test_leaderboard_file_rows_have_sources():
    from molstrata.data import task_info
    from molstrata.report.context import load_leaderboard

    board = load_leaderboard()
    assert len(board) == 22 and board["task"].is_unique
    for r in board.itertuples(index=False):
        assert r.metric == task_info(r.task).metric, r.task  # the task's own TDC metric
        assert r.source_url.startswith("https://") and r.source_date and r.date_read
