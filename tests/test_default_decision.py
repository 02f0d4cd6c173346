"""benchmarks/default_decision.py (issue 21, Build 2): the validation-only rule that picks
``default``, applied to hand-made tables whose outcome is worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from bench_scripts import BENCHMARKS, load_benchmark

SMILES, GRAPH = "molstrata-smiles", "molstrata-graph"
SEEDS = (1, 2)
METRICS = {"t_auc": "roc-auc", "t_mae": "mae", "t_rho": "spearman"}


@pytest.fixture(scope="module")
def dd():
    return load_benchmark("default_decision")


def table(scores: dict) -> pd.DataFrame:
    """scores[model][task] = (pretrained, twin0, twin1, twin2): one value per variant, or a
    tuple with one value per seed of SEEDS."""
    rows = []
    for model, tasks in scores.items():
        for task, values in tasks.items():
            for j, value in enumerate(values):
                variant, init = ("pretrained", None) if j == 0 else (f"twin{j - 1}", j - 1)
                per_seed = value if isinstance(value, tuple) else (value,) * len(SEEDS)
                for seed, v in zip(SEEDS, per_seed, strict=True):
                    rows.append({"model": model, "variant": variant, "init_seed": init, "task": task,
                                 "metric": METRICS[task], "seed": seed, "best_layer": 0,
                                 "valid_score": v, "n_train": 10, "n_valid": 5})
    out = pd.DataFrame(rows)
    out["init_seed"] = out["init_seed"].astype("Int64")
    return out


def decide(dd, scores: dict) -> dict:
    return dd.decide(table(scores), current=SMILES, seeds=SEEDS)


# both pass (a) on 3 of 3; head to head: graph better on t_auc (0.80 > 0.70) and t_mae
# (0.30 < 0.40, lower is better), smiles better on t_rho -> graph, 2 to 1
BOTH_PASS = {
    SMILES: {"t_auc": (0.70, 0.6, 0.6, 0.6), "t_mae": (0.40, 0.5, 0.5, 0.5), "t_rho": (0.50, 0.1, 0.1, 0.1)},
    GRAPH: {"t_auc": (0.80, 0.6, 0.6, 0.6), "t_mae": (0.30, 0.5, 0.5, 0.5), "t_rho": (0.40, 0.1, 0.1, 0.1)},
}


def test_the_better_candidate_on_more_tasks_is_default(dd):
    result = decide(dd, BOTH_PASS)
    assert result["default"] == GRAPH
    assert result["needed"] == 2  # ceil(2/3 * 3)
    assert result["pretrained_wins"] == {SMILES: 3, GRAPH: 3}
    assert result["head_to_head"] == {SMILES: 1, GRAPH: 2}


def test_lower_mae_is_better(dd):
    scores = {m: dict(t) for m, t in BOTH_PASS.items()}
    scores[GRAPH]["t_mae"] = (0.45, 0.5, 0.5, 0.5)  # now worse than smiles' 0.40: 1 to 2
    assert decide(dd, scores)["head_to_head"] == {SMILES: 2, GRAPH: 1}
    assert decide(dd, scores)["default"] == SMILES


def test_a_tie_keeps_the_current_default(dd):
    scores = {m: dict(t) for m, t in BOTH_PASS.items()}
    scores[GRAPH]["t_mae"] = (0.40, 0.5, 0.5, 0.5)  # equal: counts for neither -> 1 to 1
    result = decide(dd, scores)
    assert result["head_to_head"] == {SMILES: 1, GRAPH: 1}
    assert result["default"] == SMILES
    assert dd.decide(table(scores), current=GRAPH, seeds=SEEDS)["default"] == GRAPH


def test_a_candidate_not_beating_its_twins_cannot_be_default(dd):
    scores = {m: dict(t) for m, t in BOTH_PASS.items()}
    # graph's twins now beat it on t_auc and t_mae: 1 of 3 < 2, though it wins head to head
    scores[GRAPH]["t_auc"] = (0.80, 0.9, 0.9, 0.9)
    scores[GRAPH]["t_mae"] = (0.30, 0.2, 0.2, 0.2)
    result = decide(dd, scores)
    assert result["pretrained_wins"][GRAPH] == 1
    assert result["qualifies"] == {SMILES: True, GRAPH: False}
    assert result["default"] == SMILES


def test_twins_and_seeds_are_averaged(dd):
    scores = {m: dict(t) for m, t in BOTH_PASS.items()}
    # smiles t_rho: pretrained mean over seeds (0.9 + 0.1) / 2 = 0.5; the twins' means are
    # 0.3, 0.3 and 0.75 -> their mean 0.45 < 0.5: still a win over the twins, although one
    # twin (0.75) and one seed (0.1 < 0.3) alone would lose
    scores[SMILES]["t_rho"] = ((0.9, 0.1), 0.3, 0.3, (0.7, 0.8))
    assert decide(dd, scores)["pretrained_wins"][SMILES] == 3
    scores[SMILES]["t_rho"] = ((0.9, 0.1), 0.3, 0.3, (0.9, 0.9))  # twins' mean 0.5: no longer strictly better
    assert decide(dd, scores)["pretrained_wins"][SMILES] == 2


def test_no_candidate_passing_keeps_the_current_default(dd):
    # every twin scores like its pretrained model on t_auc and better on t_mae and t_rho
    better = {"t_auc": 0.0, "t_mae": -0.05, "t_rho": 0.05}
    scores = {m: {t: (v[0], *(v[0] + better[t],) * 3) for t, v in tasks.items()} for m, tasks in BOTH_PASS.items()}
    result = decide(dd, scores)
    assert result["qualifies"] == {SMILES: False, GRAPH: False}
    assert result["default"] == SMILES


@pytest.mark.parametrize("cut", ["seed", "twin", "task"])
def test_an_incomplete_table_is_refused(dd, cut):
    full = table(BOTH_PASS)
    if cut == "seed":
        bad = full.drop(full.index[(full["model"] == GRAPH) & (full["seed"] == 2)][:1])
    elif cut == "twin":
        bad = full[full["variant"] != "twin2"]
    else:
        bad = full[~((full["model"] == GRAPH) & (full["task"] == "t_rho"))]
    with pytest.raises(ValueError):
        dd.decide(bad, current=SMILES, seeds=SEEDS)


def test_the_alias_follows_the_shipped_decision():
    """``default`` resolves to the encoder that benchmarks/results/default_decision.txt names."""
    from molstrata.encoders.registry import resolve_name

    text = (BENCHMARKS / "results" / "default_decision.txt").read_text()
    decided = [line.split()[2] for line in text.splitlines() if line.startswith("default = ")]
    assert decided and decided[0] in (SMILES, GRAPH)
    assert resolve_name("default") == decided[0]
