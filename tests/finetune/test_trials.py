"""The trials table of finetune runs, its convergence counters and its summary (issue 23)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from molstrata.core.errors import ConfigError

COLUMNS = ["task", "seed", "depth", "lr", "epoch", "max_epochs", "valid_score", "test_score", "selected"]


def _row(task, seed, depth, lr, epoch, cap, valid, test, selected):
    return dict(zip(COLUMNS, [task, seed, depth, lr, epoch, cap, valid, test, selected], strict=True))


def test_trials_of_a_tiny_run_follow_its_long_results(tmp_path, data_dir, tiny_roberta_dir, monkeypatch):
    from molstrata.finetune import TrainConfig
    from molstrata.finetune.trials import check_trials, trials_from_results
    from molstrata.runs import run_finetune

    monkeypatch.setenv("MOLSTRATA_DATA_DIR", str(data_dir))
    lrs = [1e-2, 1e-3, 1e-4]
    run_finetune(str(tiny_roberta_dir), "hia_hou", layers=[1], seeds=[1], lrs=lrs,
                 config=TrainConfig(epochs=3, patience=1), out=tmp_path / "run", device="cpu",
                 progress=False, data_dir=data_dir)
    long = pd.read_csv(tmp_path / "run" / "finetune_results.csv")
    trials = trials_from_results(long, max_epochs=3)

    assert list(trials.columns) == COLUMNS
    assert len(trials) == 2 * len(lrs)  # depths 1 and 3 (full) x 3 learning rates
    assert set(trials["max_epochs"]) == {3}
    for (depth, lr), row in trials.set_index(["depth", "lr"]).iterrows():
        valid = long[(long.split == "valid") & (long.layer == depth) & (long.lr == lr)].sort_values("epoch")
        best = int(np.argmax(valid.score.to_numpy()))  # roc-auc: higher is better, first max
        assert row.epoch == valid.epoch.iloc[best]
        assert row.valid_score == pytest.approx(valid.score.max())
    for depth, cell in trials.groupby("depth"):
        test = long[(long.split == "test") & (long.layer == depth)]
        assert len(test) == 1
        assert cell.selected.sum() == 1
        chosen = cell[cell.selected].iloc[0]
        assert chosen.lr == test.lr.iloc[0]
        assert chosen.test_score == pytest.approx(test.score.iloc[0])
        assert chosen.valid_score == pytest.approx(cell.valid_score.max())
        assert cell[~cell.selected].test_score.isna().all()  # test read for the selected row only
    check_trials(trials, {"hia_hou": "roc-auc"})


def _hand_trials():
    """Three cells of lrs 1e-4, 1e-3, 1e-2 (cap 10): interior + below cap; top edge at the
    cap; bottom edge below the cap."""
    rows = []
    for depth, (sel_lr, sel_epoch) in zip((1, 2, 3), ((1e-3, 4), (1e-2, 10), (1e-4, 7)), strict=True):
        for lr in (1e-4, 1e-3, 1e-2):
            chosen = lr == sel_lr
            rows.append(_row("t", 1, depth, lr, sel_epoch if chosen else 2, 10,
                             0.9 if chosen else 0.5, 0.8 if chosen else np.nan, chosen))
    return pd.DataFrame(rows, columns=COLUMNS)


def test_convergence_counts_cells_below_the_cap_and_interior():
    from molstrata.finetune.trials import convergence

    conv = convergence(_hand_trials())
    assert conv["n_cells"] == 3
    assert (conv["below_cap"], conv["interior"]) == (2, 1)
    assert conv["below_cap_share"] == pytest.approx(2 / 3)
    assert conv["interior_share"] == pytest.approx(1 / 3)
    assert conv["meets"] is False
    assert conv["at_cap_cells"] == [("t", 1, 2)]
    assert conv["edge_cells"] == [("t", 1, 2), ("t", 1, 3)]


def test_convergence_meets_the_rules_at_80_percent():
    from molstrata.finetune.trials import convergence

    rows = []
    for depth in range(1, 6):  # 5 cells; only the last one at the cap and on an edge
        edge = depth == 5
        for lr in (1e-4, 1e-3, 1e-2):
            chosen = lr == (1e-2 if edge else 1e-3)
            rows.append(_row("t", 1, depth, lr, 10 if edge and chosen else 3, 10, 0.9 if chosen else 0.1,
                             0.5 if chosen else np.nan, chosen))
    conv = convergence(pd.DataFrame(rows, columns=COLUMNS))
    assert (conv["below_cap_share"], conv["interior_share"]) == (0.8, 0.8)
    assert conv["meets"] is True


def test_grid_extension_adds_one_step_beyond_each_edge_hit():
    from molstrata.finetune.trials import grid_extension

    ext = grid_extension(_hand_trials()).set_index("side")
    assert ext.loc["high", "new_lr"] == pytest.approx(1e-1)
    assert ext.loc["low", "new_lr"] == pytest.approx(1e-5)
    assert ext.loc["high", "n_cells"] == 1 and ext.loc["low", "n_cells"] == 1


def test_merge_reselects_on_valid_and_keeps_only_the_selected_test():
    from molstrata.finetune.trials import merge_trials

    first = pd.DataFrame([_row("t", 1, 2, 1e-3, 3, 10, 0.70, np.nan, False),
                          _row("t", 1, 2, 1e-2, 5, 10, 0.80, 0.70, True)], columns=COLUMNS)
    better = pd.DataFrame([_row("t", 1, 2, 3e-2, 4, 10, 0.85, 0.90, True)], columns=COLUMNS)
    merged = merge_trials([first, better], {"t": "roc-auc"}).set_index("lr")
    assert merged.selected.tolist() == [False, False, True]
    assert merged.loc[3e-2, "test_score"] == 0.90 and np.isnan(merged.loc[1e-2, "test_score"])

    worse = pd.DataFrame([_row("t", 1, 2, 3e-2, 4, 10, 0.60, 0.99, True)], columns=COLUMNS)
    merged = merge_trials([first, worse], {"t": "roc-auc"}).set_index("lr")
    assert merged.loc[1e-2, "selected"] and merged.loc[1e-2, "test_score"] == 0.70
    assert np.isnan(merged.loc[3e-2, "test_score"])  # its run's test is not reported
    # mae: lower is better, so the same scores select the other way
    merged = merge_trials([first.assign(selected=[True, False], test_score=[0.5, np.nan]), worse],
                          {"t": "mae"}).set_index("lr")
    assert merged.loc[3e-2, "selected"] and merged.loc[3e-2, "test_score"] == 0.99


def test_merge_replaces_a_rerun_trial_and_refuses_a_selection_without_test():
    from molstrata.finetune.trials import merge_trials

    first = pd.DataFrame([_row("t", 1, 2, 1e-3, 3, 10, 0.70, np.nan, False),
                          _row("t", 1, 2, 1e-2, 10, 10, 0.80, 0.70, True)], columns=COLUMNS)
    capped = pd.DataFrame([_row("t", 1, 2, 1e-2, 15, 20, 0.90, 0.75, True)], columns=COLUMNS)
    merged = merge_trials([first, capped], {"t": "roc-auc"}).set_index("lr")
    assert len(merged) == 2 and merged.loc[1e-2, "epoch"] == 15 and merged.loc[1e-2, "max_epochs"] == 20
    lower = capped.assign(valid_score=0.60)  # now 1e-3 wins on valid, but its run never read test
    with pytest.raises(ConfigError, match="lr 0.001.*rerun every learning rate"):
        merge_trials([first, lower], {"t": "roc-auc"})


def test_check_trials_refuses_a_test_score_outside_the_selection():
    from molstrata.finetune.trials import check_trials

    bad = _hand_trials()
    bad.loc[0, "test_score"] = 0.1
    with pytest.raises(ConfigError, match="one selected row"):
        check_trials(bad, {"t": "roc-auc"})
    with pytest.raises(ConfigError, match="columns"):
        check_trials(_hand_trials()[COLUMNS[::-1]], {"t": "roc-auc"})


def _summary_trials(metric_task="a"):
    """Task ``a`` (roc-auc), depths 1..4 (4 = full), seeds 1..3; selected rows only."""
    tests = {4: (0.80, 0.80, 0.80), 1: (0.88, 0.84, 0.80), 2: (0.70, 0.72, 0.74), 3: (0.81, 0.82, 0.83)}
    valids = {4: (0.9, 0.9, 0.9), 1: (0.8, 0.95, 0.8), 2: (0.7, 0.7, 0.7), 3: (0.85, 0.85, 0.99)}
    rows = [_row(metric_task, s, d, 1e-3, 3, 10, valids[d][s - 1], tests[d][s - 1], True)
            for d in tests for s in (1, 2, 3)]
    frozen = pd.DataFrame([{"task": metric_task, "metric": "roc-auc", "layer": d, "split": "test",
                            "seed": s, "score": 0.5 + 0.1 * d} for d in (1, 2, 3, 4) for s in (1, 2, 3)])
    return pd.DataFrame(rows, columns=COLUMNS), frozen, tests


def test_depth_table_pairs_seeds_and_gives_a_t_interval():
    from molstrata.finetune.trials_summary import depth_table

    trials, frozen, tests = _summary_trials()
    table = depth_table(trials, frozen, {"a": "roc-auc"}, full_depth=4).set_index("depth")
    deltas = np.array([10.0, 5.0, 0.0])  # (0.88-0.8)/0.8, (0.84-0.8)/0.8, 0
    half = stats.t.ppf(0.975, 2) * deltas.std(ddof=1) / np.sqrt(3)
    assert table.loc[1, "delta_vs_full"] == pytest.approx(5.0)
    assert (table.loc[1, "delta_lo"], table.loc[1, "delta_hi"]) == pytest.approx((5 - half, 5 + half))
    assert table.loc[4, "delta_vs_full"] == pytest.approx(0.0)
    assert table.loc[1, "frozen_test_mean"] == pytest.approx(0.6)
    assert table.loc[1, "delta_vs_frozen"] == pytest.approx(100 * (np.mean(tests[1]) - 0.6) / 0.6)
    mae = depth_table(trials.assign(task="m"), frozen.assign(task="m"), {"m": "mae"}, 4).set_index("depth")
    assert mae.loc[1, "delta_vs_full"] == pytest.approx(-5.0)  # lower MAE is better


def test_chosen_depth_uses_validation_and_reports_the_test_pick_apart():
    from molstrata.finetune.trials_summary import chosen_depth_table

    trials, _, _ = _summary_trials()
    chosen = chosen_depth_table(trials, {"a": "roc-auc"}, full_depth=4).set_index("seed")
    assert chosen.valid_depth.tolist() == [4, 1, 3]  # seed 2: depth 1 has valid 0.95
    assert chosen.loc[2, "delta_valid_choice"] == pytest.approx(5.0)
    assert chosen.loc[3, "delta_valid_choice"] == pytest.approx(100 * (0.83 - 0.8) / 0.8)
    assert chosen.test_depth.tolist() == [1, 1, 3]


def test_depth_correlations_need_four_depths():
    from molstrata.finetune.trials_summary import depth_correlations, depth_table

    trials, frozen, tests = _summary_trials()
    table = depth_table(trials, frozen, {"a": "roc-auc"}, full_depth=4)
    corr = depth_correlations(table).set_index("task")
    ft = [np.mean(tests[d]) for d in (1, 2, 3, 4)]
    assert corr.loc["a", "n_depths"] == 4
    assert corr.loc["a", "pearson"] == pytest.approx(np.corrcoef([0.6, 0.7, 0.8, 0.9], ft)[0, 1])
    three = depth_correlations(table[table.depth != 2]).set_index("task")
    assert np.isnan(three.loc["a", "pearson"])


def test_figures_are_written(tmp_path):
    from molstrata.finetune.trials_summary import depth_table, write_figures

    trials, frozen, _ = _summary_trials()
    paths = write_figures(tmp_path, "x", depth_table(trials, frozen, {"a": "roc-auc"}, 4))
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)


def test_pooled_averages_tasks_within_a_seed_then_intervals_over_seeds():
    from molstrata.finetune.trials_summary import chosen_depth_table, pooled

    a, _, _ = _summary_trials("a")
    b = a.assign(task="b", test_score=np.where(a.depth == 1, 0.8, a.test_score))  # depth 1 = full in b
    trials = pd.concat([a, b], ignore_index=True)
    metrics = {"a": "roc-auc", "b": "roc-auc"}
    table = pooled(chosen_depth_table(trials, metrics, 4), trials, metrics, 4).set_index("quantity")
    per_seed = np.array([10.0, 5.0, 0.0]) / 2  # task a's depth-1 deltas, task b's are 0
    half = stats.t.ppf(0.975, 2) * per_seed.std(ddof=1) / np.sqrt(3)
    row = table.loc["depth 1 vs full"]
    assert (row["mean"], row["low"], row["high"]) == pytest.approx((2.5, 2.5 - half, 2.5 + half))
    assert (row["n_seeds"], row["n_tasks"]) == (3, 2)
    assert table.loc["depth 4 vs full", "mean"] == pytest.approx(0.0)


def test_pooled_compares_with_the_frozen_probe_at_each_depth_and_at_its_valid_choice():
    from molstrata.finetune.trials_summary import chosen_depth_table, pooled

    trials, frozen, _ = _summary_trials()
    valid = pd.DataFrame([{"task": "a", "metric": "roc-auc", "layer": layer, "split": "valid", "seed": s,
                           "score": score} for layer, score in enumerate((0.1, 0.5, 0.9, 0.6, 0.7))
                          for s in (1, 2, 3)])
    layer0 = pd.DataFrame([{"task": "a", "metric": "roc-auc", "layer": 0, "split": "test", "seed": s,
                            "score": 0.5} for s in (1, 2, 3)])
    frozen = pd.concat([frozen, valid, layer0], ignore_index=True)
    metrics = {"a": "roc-auc"}
    table = pooled(chosen_depth_table(trials, metrics, 4), trials, metrics, 4, frozen).set_index("quantity")
    # depth 1 finetuned (0.88, 0.84, 0.80) vs the frozen layer 1 (test 0.6)
    assert table.loc["depth 1 vs frozen", "mean"] == pytest.approx(100 * (0.84 - 0.6) / 0.6)
    # validation picks depths 4, 1, 3 (tests 0.80, 0.84, 0.83); the frozen probe's valid pick is
    # layer 2 (test 0.7) in every seed
    per_seed = 100 * (np.array([0.80, 0.84, 0.83]) - 0.7) / 0.7
    half = stats.t.ppf(0.975, 2) * per_seed.std(ddof=1) / np.sqrt(3)
    row = table.loc["valid choice vs frozen valid choice"]
    assert (row["mean"], row["low"], row["high"]) == pytest.approx((per_seed.mean(), per_seed.mean() - half,
                                                                    per_seed.mean() + half))
    assert (row["n_seeds"], row["n_tasks"]) == (3, 1)
    assert "depth 1 vs frozen" not in pooled(chosen_depth_table(trials, metrics, 4), trials, metrics, 4).set_index(
        "quantity").index


def test_pooled_compares_the_valid_choice_with_a_tuned_head():
    from molstrata.finetune.trials_summary import chosen_depth_table, pooled

    trials, _, _ = _summary_trials()
    metrics = {"a": "roc-auc"}
    heads = pd.DataFrame({"task": ["a"] * 3, "seed": [1, 2, 3], "test_score": [0.8, 0.7, 0.83]})
    table = pooled(chosen_depth_table(trials, metrics, 4), trials, metrics, 4, heads=heads).set_index("quantity")
    # validation picks depths 4, 1, 3: tests 0.80, 0.84, 0.83 against the head's 0.8, 0.7, 0.83
    expected = np.mean([0.0, 100 * 0.14 / 0.7, 0.0])
    assert table.loc["valid choice vs tuned head", "mean"] == pytest.approx(expected)


def test_low_edge_cells_are_those_whose_best_rate_is_their_lowest():
    from molstrata.finetune.trials import low_edge_cells

    # _hand_trials: depth 1 selects 1e-3 (inside), 2 selects 1e-2 (top), 3 selects 1e-4 (bottom)
    assert low_edge_cells(_hand_trials(), 3e-5) == [("t", 1, 3)]
    assert low_edge_cells(_hand_trials(), 1e-4) == []  # the rate is not below the lowest tried
    one = pd.DataFrame([_row("u", 2, 4, 1e-2, 3, 10, 0.5, 0.4, True)], columns=COLUMNS)
    assert low_edge_cells(one, 1e-3) == [("u", 2, 4)]  # a single rate is its own lowest


def test_finetune_real_extends_downward_until_the_best_rate_is_inside(tmp_path, data_dir, tiny_roberta_dir,
                                                                       monkeypatch):
    """``benchmarks/finetune_real.py run --extend-down``: after the coarse grid, only the cells
    whose validation-best rate is their lowest try the next lower rate, step by step; summarize
    then selects over every rate a cell tried."""
    import sys

    from bench_scripts import load_benchmark
    from molstrata.finetune.trials import trials_from_results

    script = load_benchmark("finetune_real")
    monkeypatch.setenv("MOLSTRATA_DATA_DIR", str(data_dir))
    root = tmp_path / "runs"
    argv = ["finetune_real.py", "run", "--encoder", str(tiny_roberta_dir), "--tasks", "hia_hou", "--seeds", "1",
            "--depths", "1", "--lrs", "3e-2", "--extend-down", "1e-2,3e-3", "--epochs", "2", "--patience", "1",
            "--device", "cpu", "--out", str(root), "--quiet"]
    monkeypatch.setattr(sys, "argv", argv)
    script.main()

    task_dir = root / "hia_hou"
    first = pd.read_csv(task_dir / "finetune_results.csv")
    assert sorted(first.lr.unique()) == [3e-2]
    # one rate: each cell's best is its lowest, so both depths (1 and the full 3) try 1e-2
    step1 = task_dir / "ext" / "lr0.01_seed1"
    one = trials_from_results(pd.read_csv(step1 / "finetune_results.csv"), 2)
    assert sorted(one.depth.unique()) == [1, 3] and set(one.lr) == {1e-2}
    # the second step: the depths whose best so far (on valid, ties to the smaller rate) is 1e-2
    coarse = trials_from_results(first, 2)
    pair = pd.concat([coarse, one]).sort_values(["depth", "lr"], kind="stable")
    expect = []
    for depth, g in pair.groupby("depth"):
        best = g.valid_score.max()
        if g[g.valid_score == best].lr.min() == 1e-2:
            expect.append(depth)
    step2 = task_dir / "ext" / "lr0.003_seed1"
    if expect:
        two = trials_from_results(pd.read_csv(step2 / "finetune_results.csv"), 2)
        assert set(two.lr) == {3e-3} and set(expect) <= set(two.depth) <= set(expect) | {3}
    else:
        assert not step2.exists()

    argv = ["finetune_real.py", "summarize", "--name", "tiny", "--full-depth", "3", "--runs", str(root),
            "--results", str(tmp_path / "results")]
    monkeypatch.setattr(sys, "argv", argv)
    script.main()
    shipped = pd.read_csv(tmp_path / "results" / "finetune_real_tiny_trials.csv")
    frames = [coarse, one] + ([trials_from_results(pd.read_csv(step2 / "finetune_results.csv"), 2)]
                              if expect else [])
    allrows = pd.concat(frames).sort_values(["depth", "lr"], kind="stable")
    assert len(shipped) == len(allrows)
    for depth, g in allrows.groupby("depth"):
        s = shipped[shipped.depth == depth]
        assert sorted(s.lr) == sorted(g.lr)
        best = g.valid_score.max()
        assert s[s.selected].lr.iloc[0] == g[g.valid_score == best].lr.min()
        assert s.selected.sum() == 1 and s[~s.selected].test_score.isna().all()


def test_grid_summary_names_each_tasks_grid_and_the_cells_that_went_lower():
    from molstrata.finetune.trials import grid_summary

    rows = []
    for depth, lrs in ((1, (1e-4, 1e-3)), (2, (3e-5, 1e-4, 1e-3)), (3, (1e-5, 3e-5, 1e-4, 1e-3))):
        for lr in lrs:
            rows.append(_row("t", 1, depth, lr, 3, 10, 0.5, np.nan, False))
    rows += [_row("u", 2, 1, lr, 3, 10, 0.5, np.nan, False) for lr in (1e-3, 1e-2)]
    table = grid_summary(pd.DataFrame(rows, columns=COLUMNS)).set_index("task")
    assert table.loc["t", "n_cells"] == 3
    assert table.loc["t", "grid"] == "0.0001,0.001"
    assert table.loc["t", "extra"] == "3e-05:2,1e-05:1"
    assert (table.loc["u", "grid"], table.loc["u", "extra"]) == ("0.001,0.01", "")
