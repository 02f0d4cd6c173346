"""``--baseline ecfp``: Morgan/ECFP4 count fingerprints through the same probe, the same splits
and the same cell / key / resume machinery as the encoders (issue #20, item 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from altered_data import altered_data_dir
from molstrata.core.errors import ConfigError
from molstrata.probe.baseline import ECFP_BITS, ecfp_counts
from molstrata.runs import sweep

TASK = "caco2_wang"


def _run(enc, out, data_dir, **kw):
    return sweep([enc], TASK, [1, 2], out=out, data_dir=data_dir, report=False, progress=False,
                 strategy="valid", **kw)


def test_ecfp_counts():
    emb = ecfp_counts(["C", "not a smiles", "c1ccccc1O"])
    assert emb.n_layers == 1 and emb[0].shape == (3, ECFP_BITS) and emb[0].dtype == np.float32
    assert emb.valid.tolist() == [True, False, True]
    assert emb[0][0].sum() == 1  # methane: one atom environment, counted once
    assert np.isnan(emb[0][1]).all()
    # phenol: 7 heavy atoms, each with a radius-0 environment; counts are integers
    assert emb[0][2].sum() >= 7 and np.array_equal(emb[0][2], np.round(emb[0][2]))


def test_baseline_table_cells_and_resume(hash_encoder, data_dir, tmp_path):
    out = tmp_path / "run"
    _run(hash_encoder, out, data_dir, baseline="ecfp")
    table = pd.read_csv(out / "baseline.csv")
    assert table[["task", "metric", "seed"]].values.tolist() == [[TASK, "mae", 1], [TASK, "mae", 2]]
    assert np.isfinite(table["test_score"]).all() and (table["test_score"] > 0).all()
    cell = out / "cells" / "ecfp4-counts" / TASK / "seed1" / "layer000.npz"
    assert cell.is_file() and (cell.parent / "key.json").is_file()
    before, mtime = (out / "baseline.csv").read_bytes(), cell.stat().st_mtime_ns
    _run(hash_encoder, out, data_dir, baseline="ecfp")  # resumed: same cell, same bytes
    assert cell.stat().st_mtime_ns == mtime and (out / "baseline.csv").read_bytes() == before
    # other labels (shifted by 3): the key differs, the cell is recomputed (predictions + 3)
    with np.load(cell) as z:
        pred = z["test_pred"].copy()
    other = altered_data_dir(data_dir, tmp_path / "other", TASK, lambda y: y + 3.0)
    _run(hash_encoder, out, other, baseline="ecfp", overwrite=True)
    with np.load(cell) as z:
        assert np.allclose(z["test_pred"], pred + 3.0, atol=1e-6)
    _run(hash_encoder, out, data_dir, baseline="none", overwrite=True)
    assert not (out / "baseline.csv").exists()


def test_bad_baseline(hash_encoder, data_dir, tmp_path):
    with pytest.raises(ConfigError, match="baseline"):
        _run(hash_encoder, tmp_path / "run", data_dir, baseline="morgan")
