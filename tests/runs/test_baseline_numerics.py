"""The ECFP4 baseline's cells carry the sparse rows' numerics version
(:data:`molstrata.probe._numerics.SPARSE_NUMERICS`, issue 22: tridiagonal ridge grids and
two-precision logistic fits on count rows), so cells made by other numerics, in a run folder
or in the shared cache, are recomputed, never mixed into a new ``baseline.csv``."""

from __future__ import annotations

import json

import numpy as np
import pytest

import molstrata.runs._baseline as baseline_module
from molstrata.probe._numerics import SPARSE_NUMERICS
from molstrata.runs import sweep


def _run(enc, task, out, data_dir):
    return sweep([enc], task, [1], out=out, data_dir=data_dir, report=False, progress=False,
                 strategy="valid", baseline="ecfp")


def _as_old_numerics(folder) -> dict:
    """Rewrite a baseline cell folder as the code before the version wrote it (no entry in its
    key), its cell poisoned so that reusing it would show in ``baseline.csv``; the old key."""
    key = json.loads((folder / "key.json").read_text())
    del key["--numerics"]
    (folder / "key.json").write_text(json.dumps(key, sort_keys=True, indent=2))
    with np.load(folder / "layer000.npz") as z:
        data = dict(z)
    data["valid_score"] = np.array(-1.0)
    np.savez(folder / "layer000.npz", **data)
    return key


@pytest.mark.parametrize("task", ["caco2_wang", "hia_hou"])  # ridge and logistic cells
def test_baseline_cells_of_other_numerics_are_recomputed(hash_encoder, data_dir, tmp_path, task, monkeypatch):
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path / "cache"))
    _run(hash_encoder, task, tmp_path / "a", data_dir)
    first = (tmp_path / "a" / "baseline.csv").read_bytes()
    folder = tmp_path / "a" / "cells" / "ecfp4-counts" / task / "seed1"
    key = json.loads((folder / "key.json").read_text())
    assert key["--numerics"] == json.dumps(SPARSE_NUMERICS)
    old = _as_old_numerics(folder)
    # the shared cell of the old key is elsewhere in the cache folder: a new run never reads it
    assert baseline_module._shared_path(old) != baseline_module._shared_path(key)
    _run(hash_encoder, task, tmp_path / "a", data_dir)
    assert (tmp_path / "a" / "baseline.csv").read_bytes() == first
    assert json.loads((folder / "key.json").read_text()) == key
