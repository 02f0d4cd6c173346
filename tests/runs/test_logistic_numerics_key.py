"""Cells of a run made by other linear-probe numerics (before the two-precision logistic fits,
:data:`molstrata.probe._numerics.NUMERICS`, issue 22) are recomputed, not mixed into a resumed
run."""

from __future__ import annotations

import json

import numpy as np

from molstrata.probe._numerics import NUMERICS
from molstrata.runs import sweep

TASK = "hia_hou"


def _run(enc, out, data_dir):
    return sweep([enc], TASK, [1], out=out, data_dir=data_dir, report=False, progress=False,
                 strategy="valid", baseline="none")


def test_logistic_cells_of_the_old_numerics_are_recomputed(hash_encoder, data_dir, tmp_path):
    out = tmp_path / "run"
    first = _run(hash_encoder, out, data_dir)
    table = (out / "probe_results.csv").read_bytes()
    keys = list((out / "cells" / "hash-encoder").rglob("key.json"))
    assert keys and all(json.loads(p.read_text())["--numerics"] == json.dumps(NUMERICS) for p in keys)
    assert _run(hash_encoder, out, data_dir).resumed_cells == first.scores[0].test_scores.size
    for p in keys:  # a folder of the old numerics: its key had no entry; poison one cell
        key = json.loads(p.read_text())
        del key["--numerics"]
        p.write_text(json.dumps(key, sort_keys=True, indent=2))
        cell = p.parent / "layer000.npz"
        with np.load(cell) as z:
            data = dict(z)
        data["valid_score"] = np.array(-1.0)
        np.savez(cell, **data)
    again = _run(hash_encoder, out, data_dir)
    assert again.resumed_cells == 0
    assert any("numerics" in n and "recomputing" in n for n in again.notes), again.notes
    assert (out / "probe_results.csv").read_bytes() == table
