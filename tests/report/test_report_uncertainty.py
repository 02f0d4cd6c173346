"""The probe report's "Uncertainty and controls" and "State of the art" sections (issue 21),
on the hand-made run folders of ``run_tables`` (numbers worked out by hand)."""

from __future__ import annotations

import pandas as pd
import pytest
from run_tables import write_run

from molstrata.report import build_report

# t(0.975, 1) = 12.706 (a printed Student-t table); with 2 seeds the half-width of the
# paired interval is 12.706 * sd(ddof=1) / sqrt(2) = 12.706 * |d1 - d2| / 2.
T1 = 12.706


def _row(text: str, section: str, task: str) -> list[str]:
    part = text[text.index(section):]
    line = next(x for x in part.splitlines() if x.startswith(f"| enc | {task} |") or x.startswith(f"| minimol | {task} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_paired_interval_per_task_valid_mode(tmp_path):
    text = build_report(write_run(tmp_path, "valid")).read_text()
    assert "## Uncertainty and controls" in text
    # valid picks caco2 layers 0 then 1: test 0.50, 0.44 vs final 0.60, 0.58 -> d = -0.10, -0.14
    half = T1 * 0.04 / 2
    row = _row(text, "## Uncertainty and controls", "caco2_wang")
    assert row[-1] == f"{-0.12:+.3f} [{-0.12 - half:+.3f}, {-0.12 + half:+.3f}]"
    assert row[-2] == "+20.3%"  # (0.59 - 0.47) / 0.59


def test_headline_line_ensemble(tmp_path):
    text = build_report(write_run(tmp_path, "ensemble")).read_text()
    # ensemble: caco2 0.45, 0.47 vs 0.60, 0.58 -> Δ% = (0.59 - 0.46) / 0.59 = 22.03%;
    # hia 0.765, 0.763 vs 0.75, 0.77 -> (0.764 - 0.76) / 0.76 = 0.526%; mean 11.28%
    line = next(x for x in text.splitlines() if x.startswith("- enc · ensemble vs final layer, all tasks"))
    assert ": +11.3% [95% CI " in line and "better on 2 / worse on 0" in line
    # two positive differences: W = 0, exact two-sided p = 2 * 1/4 = 0.5
    assert "W = 0, p = 0.5" in line
    assert "random-init twin: not run" in text


def test_state_of_the_art_minimol(tmp_path):
    write_run(tmp_path, "valid")
    for name in ("probe_results.csv", "summary.csv"):
        frame = pd.read_csv(tmp_path / name)
        frame["encoder"] = "minimol"
        frame.to_csv(tmp_path / name, index=False)
    text = build_report(tmp_path).read_text()
    row = _row(text, "## State of the art", "caco2_wang")
    # ours 0.470 (MAE); MiniMol's README: 0.324 ± 0.012 -> Δ% = (0.324 - 0.470) / 0.324 = -45.1%
    assert row[-2] == "0.324 ± 0.012"
    assert row[-1] == "-45.1% (+0.146)"
    # hia_hou: ours 0.765 vs MiniMol 0.994 -> (0.765 - 0.994) / 0.994 = -23.0%
    assert _row(text, "## State of the art", "hia_hou")[-1] == "-23.0% (-0.229)"
    assert "better than MiniMol's published score on 0 of 2 task(s)" in text


@pytest.mark.parametrize("mode", ["valid", "ensemble"])
def test_no_minimol_column_for_other_encoders(tmp_path, mode):
    text = build_report(write_run(tmp_path, mode)).read_text()
    assert "## State of the art" in text and "gap to MiniMol published" not in text
    assert "better than the TDC leaderboard's best on 0 of 2 listed task(s)" in text


def test_strongest_final_layer_head_is_picked_on_valid(tmp_path):
    write_run(tmp_path, "valid")
    rows = []
    for seed in (1, 2):  # caco2 (MAE): the mlp is better on valid (0.40 < 0.60), test 0.45
        rows += [("enc", "caco2_wang", "mae", seed, "linear", 0.60, (0.60, 0.58)[seed - 1]),
                 ("enc", "caco2_wang", "mae", seed, "mlp", 0.40, 0.45),
                 # hia: the linear head is better on valid; the mlp's better test must not count
                 ("enc", "hia_hou", "roc-auc", seed, "linear", 0.70, (0.75, 0.77)[seed - 1]),
                 ("enc", "hia_hou", "roc-auc", seed, "mlp", 0.60, 0.90)]
    pd.DataFrame(rows, columns=["encoder", "task", "metric", "seed", "head", "valid_score", "test_score"]).to_csv(
        tmp_path / "final_heads.csv", index=False)
    text = build_report(tmp_path).read_text()
    line = next(x for x in text.splitlines() if "vs the final-layer head best on valid" in x)
    # valid choice: caco2 0.50, 0.44 (mean 0.47) vs mlp 0.45 -> (0.45 - 0.47) / 0.45 = -4.44%;
    # hia 0.75, 0.78 (0.765) vs linear 0.76 -> +0.66%; mean -1.89%
    assert "(among: linear, mlp; `final_heads.csv`), all tasks: -1.9% [" in line
    assert "better on 1 / worse on 1" in line


def test_two_questions_apart(tmp_path):
    (tmp_path / "ens").mkdir()
    write_run(tmp_path / "ens", "ensemble")
    (tmp_path / "cv").mkdir()
    write_run(tmp_path / "cv", "cv")
    both = pd.concat([pd.read_csv(tmp_path / d / "selection_seeds.csv") for d in ("cv", "ens")])
    both.to_csv(tmp_path / "cv" / "selection_seeds.csv", index=False)
    text = build_report(tmp_path / "cv").read_text()
    assert "### The two questions" in text
    # (a) cv: caco2 layers 1, 1 -> 0.40, 0.44 vs 0.60, 0.58: (0.59 - 0.42) / 0.59 = 28.81%;
    # hia layers 1, 2 -> 0.80, 0.77 vs 0.75, 0.77: (0.785 - 0.76) / 0.76 = 3.29%; mean 16.05%
    assert "- (a) enc · cv vs final layer, all tasks: +16.1% [" in text
    # (b) ensemble, as in test_headline_line_ensemble: +11.3%
    assert "- (b) enc · ensemble vs final layer, all tasks: +11.3% [" in text
    assert "(b) enc · cv" not in text and "(a) enc · ensemble" not in text


def test_final_heads_of_another_encoder_are_said_not_compared(tmp_path):
    """A final_heads.csv whose rows match none of the run's encoders is named, not shown as
    an all-n/a headline (it happened with the alias ``default`` before names were resolved)."""
    write_run(tmp_path, "valid")
    pd.DataFrame([("other", "caco2_wang", "mae", 1, "mlp", 0.4, 0.45)],
                 columns=["encoder", "task", "metric", "seed", "head", "valid_score", "test_score"]).to_csv(
        tmp_path / "final_heads.csv", index=False)
    text = build_report(tmp_path).read_text()
    assert "`final_heads.csv` has no row for this run's encoder(s), tasks and seeds (enc); not compared" in text
    assert "t over 0 task(s)" not in text
