"""The finetune report gives no Pearson r from fewer than 3 depths and says plainly when
finetuning scored worse than the frozen probe (issue #20, item 9)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molstrata.finetune import FinetuneResult
from molstrata.finetune.outputs import write_outputs


def _results(cells):
    out = {}
    for (k, s), (v, t) in cells.items():
        hist = pd.DataFrame({"lr": [1e-4], "epoch": [1], "train_loss": [1.0], "valid_score": [v]})
        out[(k, s)] = FinetuneResult("t", "mae", "regression", k, s, hist, 1e-4, 1, v, t, np.array([1.0]))
    return out


def _frozen(test_by_layer):
    return pd.DataFrame([{"encoder": "e", "task": "t", "metric": "mae", "layer": k, "split": split,
                          "score": score + 0.01 * s, "seed": s}
                         for k, score in test_by_layer.items() for split in ("valid", "test") for s in (1, 2)])


def _write(tmp_path, cells, frozen):
    split = type("S", (), {"test": pd.DataFrame({"Drug_ID": ["a"], "Drug": ["C"], "Y": [1.0]})})()
    return write_outputs(tmp_path, encoder="e", task="t", num_layers=4, results=_results(cells),
                         frozen=_frozen(frozen), splits={1: split, 2: split})


def test_no_pearson_from_two_depths(tmp_path):
    # two depths, two seeds: four (depth, seed) cells, but a line through two depths
    cells = {(3, 1): (0.45, 0.42), (4, 1): (0.48, 0.50), (3, 2): (0.49, 0.41), (4, 2): (0.46, 0.55)}
    res = _write(tmp_path, cells, {3: 0.60, 4: 0.70})
    corr = res["correlations"]
    assert corr["n_layers"] == 2
    assert all(np.isnan(corr[k]) for k in ("pearson_test", "pearson_valid", "pearson_test_cells"))
    text = (tmp_path / "report.md").read_text()
    assert "test r = n/a (needs ≥ 3 depths, got 2)" in text
    assert "r = nan" not in text and "r = 1.000" not in text
    assert not (tmp_path / "figures" / "frozen_vs_finetuned.png").exists()


def test_worse_than_frozen_is_said_plainly(tmp_path):
    # MAE: at depth 3 the frozen probe (0.30 + 0.015 over seeds) beats the finetuned 0.415
    cells = {(k, s): (0.5, t) for (k, s), t in {(2, 1): 0.40, (3, 1): 0.42, (4, 1): 0.50,
                                                 (2, 2): 0.44, (3, 2): 0.41, (4, 2): 0.52}.items()}
    _write(tmp_path, cells, {2: 0.60, 3: 0.30, 4: 0.70})
    text = (tmp_path / "report.md").read_text()
    worse = [ln for ln in text.splitlines() if "Finetuning scored worse than the frozen probe" in ln]
    assert len(worse) == 1 and "depth 3" in worse[0] and "0.415" in worse[0] and "0.315" in worse[0]


def test_worse_at_every_depth(tmp_path):
    cells = {(3, 1): (0.45, 0.42), (4, 1): (0.48, 0.50), (3, 2): (0.49, 0.41), (4, 2): (0.46, 0.55)}
    _write(tmp_path, cells, {3: 0.10, 4: 0.20})
    text = (tmp_path / "report.md").read_text()
    assert "worse than the frozen linear probe at every one of the 2 finetuned depths" in text
