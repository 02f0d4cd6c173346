"""The statistics of the headline Δ (issue 21) against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from molstrata.report.stats import (
    format_summary,
    headline,
    paired_task_table,
    summarize_deltas,
    t_interval,
    wilcoxon_test,
)

# t(0.975, 2) from a printed table of Student's t: 4.303 (to 3 decimals)
T_975_2 = 4.303


def test_t_interval_by_hand():
    # d = 1, 2, 3: mean 2, sd (ddof 1) = 1, se = 1/sqrt(3); half-width 4.303/1.732 = 2.484
    ci = t_interval([1.0, 2.0, 3.0])
    assert ci.n == 3 and ci.mean == 2.0
    assert ci.low == pytest.approx(2 - T_975_2 / math.sqrt(3), abs=1e-3)
    assert ci.high == pytest.approx(2 + T_975_2 / math.sqrt(3), abs=1e-3)


def test_t_interval_one_value_has_no_width_and_nan_is_dropped():
    ci = t_interval([0.5, np.nan])
    assert ci.n == 1 and ci.mean == 0.5 and math.isnan(ci.low) and math.isnan(ci.high)
    assert t_interval([]).n == 0


def test_wilcoxon_exact_by_hand():
    # d = 1, -2, 3, 4, 5: |d| ranks 1..5, the negative one has rank 2 -> W- = 2, W+ = 13.
    # Of the 2^5 = 32 equally likely sign patterns, rank sums <= 2 come from {}, {1}, {2}:
    # 3 patterns; two-sided p = 2 * 3 / 32 = 0.1875.
    w, p = wilcoxon_test([1.0, -2.0, 3.0, 4.0, 5.0])
    assert w == 2.0
    assert p == pytest.approx(0.1875)


def test_wilcoxon_drops_zeros_and_needs_two():
    w, p = wilcoxon_test([0.0, 0.0, 1.0])
    assert math.isnan(w) and math.isnan(p)


def test_summarize_counts_and_median():
    s = summarize_deltas([1.0, -2.0, 3.0, 4.0, 5.0, np.nan])
    assert (s.n, s.better, s.worse, s.median) == (5, 4, 1, 3.0)
    assert s.interval.mean == pytest.approx(2.2)
    assert s.p == pytest.approx(0.1875)
    text = format_summary(s)
    assert text.startswith("+2.2% [95% CI ") and "t over 5 task(s)" in text and "p = 0.19" in text


def _pairs() -> pd.DataFrame:
    rows = [  # MAE: lower is better; chosen 0.40, 0.42, 0.44 vs final 0.50, 0.50, 0.50
        ("e", "caco2_wang", "mae", 1, 0.40, 0.50), ("e", "caco2_wang", "mae", 2, 0.42, 0.50),
        ("e", "caco2_wang", "mae", 3, 0.44, 0.50),
        ("e", "vdss_lombardo", "spearman", 1, 0.60, 0.50), ("e", "vdss_lombardo", "spearman", 2, 0.60, 0.50),
        ("e", "vdss_lombardo", "spearman", 3, 0.60, 0.50),
        ("e", "hia_hou", "roc-auc", 1, 0.70, 0.80), ("e", "hia_hou", "roc-auc", 2, 0.80, 0.80),
        ("e", "hia_hou", "roc-auc", 3, 0.90, 0.80),
    ]
    return pd.DataFrame(rows, columns=["encoder", "task", "metric", "seed", "chosen", "final"])


def test_paired_task_table_by_hand():
    t = paired_task_table(_pairs()).set_index("task")
    caco = t.loc["caco2_wang"]
    # d = -0.10, -0.08, -0.06: mean -0.08, sd 0.02; half-width 4.303 * 0.02 / sqrt(3) = 0.0497
    assert caco["diff_mean"] == pytest.approx(-0.08)
    assert caco["diff_low"] == pytest.approx(-0.08 - T_975_2 * 0.02 / math.sqrt(3), abs=1e-4)
    assert caco["delta_pct"] == pytest.approx(16.0)  # (0.50 - 0.42) / 0.50, MAE: lower is better
    # as Δ% the better end (low diff) is the high one: (0.0297 + 0.08 ...)/0.5
    assert caco["delta_high"] == pytest.approx(100 * (0.08 + T_975_2 * 0.02 / math.sqrt(3)) / 0.5, abs=0.02)
    hia = t.loc["hia_hou"]
    # d = -0.1, 0, 0.1: mean 0, sd 0.1 -> [-0.248, +0.248]
    assert hia["diff_mean"] == pytest.approx(0.0, abs=1e-12)
    assert hia["diff_high"] == pytest.approx(T_975_2 * 0.1 / math.sqrt(3), abs=1e-3)
    sp = t.loc["vdss_lombardo"]
    assert sp["delta_pct"] == pytest.approx(20.0)
    assert sp["diff_low"] == pytest.approx(0.1) and sp["diff_high"] == pytest.approx(0.1)  # sd 0


def test_headline_without_spearman():
    per_task = paired_task_table(_pairs())
    h = headline(per_task)
    assert set(h) == {"all", "without spearman"}
    assert h["all"].interval.mean == pytest.approx((16.0 + 20.0 + 0.0) / 3)
    assert h["without spearman"].n == 2
    assert h["without spearman"].interval.mean == pytest.approx(8.0)
    assert set(headline(per_task[per_task["metric"] != "spearman"])) == {"all"}
