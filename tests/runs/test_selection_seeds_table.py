"""``selection_seeds.csv`` in every probe run (issue 21): each seed's choice with its test and
validation scores beside the final layer's, checked against ``probe_results.csv``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molstrata.runs import sweep


def _layer_scores(out):
    res = pd.read_csv(out / "probe_results.csv")
    return res.pivot_table(index=["task", "seed", "split"], columns="layer", values="score")


def test_valid_only_run_writes_selection_seeds(hash_encoder, data_dir, tmp_path):
    out = tmp_path / "run"
    sweep([hash_encoder], "hia_hou,caco2_wang", [1, 2], out=out, data_dir=data_dir, strategy="valid",
          report=False, progress=False)
    seeds = pd.read_csv(out / "selection_seeds.csv")
    assert len(seeds) == 4 and set(seeds["strategy"]) == {"valid"}
    scores = _layer_scores(out)
    for r in seeds.itertuples(index=False):
        valid = scores.loc[(r.task, r.seed, "valid")].to_numpy()
        test = scores.loc[(r.task, r.seed, "test")].to_numpy()
        best = int(np.argmin(valid)) if r.metric == "mae" else int(np.argmax(valid))
        assert int(r.choice) == best
        assert r.valid_score == valid[best] and r.final_valid_score == valid[-1]
        assert r.test_score == test[best] and r.final_test_score == test[-1]
        assert [float(w) for w in r.weights.split(";")] == [1.0 if k == best else 0.0 for k in range(len(valid))]


def test_strategies_valid_scores_one_layer_or_nan(hash_encoder, data_dir, tmp_path):
    out = tmp_path / "run"
    sweep([hash_encoder], "hia_hou", [1], out=out, data_dir=data_dir, strategy="cv,ensemble",
          report=False, progress=False)
    seeds = pd.read_csv(out / "selection_seeds.csv").set_index("strategy")
    valid = _layer_scores(out).loc[("hia_hou", 1, "valid")].to_numpy()
    cv = seeds.loc["cv"]
    assert cv["valid_score"] == valid[int(cv["choice"])] and cv["final_valid_score"] == valid[-1]
    ens = seeds.loc["ensemble"]
    weights = [float(w) for w in ens["weights"].split(";")]
    if sum(w > 0 for w in weights) > 1:  # a real combination: its own valid score is not computed
        assert np.isnan(ens["valid_score"])
    assert ens["final_valid_score"] == valid[-1]
