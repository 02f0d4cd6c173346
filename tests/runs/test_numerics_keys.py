"""Cells and CV caches made by other linear-probe numerics (:data:`molstrata.probe._numerics.NUMERICS`,
issue 22: the tridiagonal ridge grids, the two-precision logistic fits) are recomputed, not
mixed into a resumed run: on a regression task with the CV of ``ensemble`` (ridge) and on a
classification task (logistic cells)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from molstrata.probe._numerics import NUMERICS
from molstrata.runs import sweep


def _run(enc, task, strategy, out, data_dir):
    return sweep([enc], task, [1], out=out, data_dir=data_dir, report=False, progress=False,
                 strategy=strategy, baseline="none")


def _as_old_numerics(key_file) -> None:
    """Rewrite a cell folder as the code before the numerics version wrote it (no entry in its
    key), with one cell poisoned so that reusing it would show in the tables."""
    key = json.loads(key_file.read_text())
    del key["--numerics"]
    key_file.write_text(json.dumps(key, sort_keys=True, indent=2))
    cell = key_file.parent / "layer000.npz"
    with np.load(cell) as z:
        data = dict(z)
    data["valid_score"] = np.array(-1.0)
    np.savez(cell, **data)


@pytest.mark.parametrize(("task", "strategy"), [("caco2_wang", "ensemble"), ("hia_hou", "valid")])
def test_cells_of_other_numerics_are_recomputed(hash_encoder, data_dir, tmp_path, task, strategy):
    out = tmp_path / "run"
    first = _run(hash_encoder, task, strategy, out, data_dir)
    names = ("probe_results.csv", "selection_seeds.csv")
    tables = {n: (out / n).read_bytes() for n in names}
    keys = list((out / "cells" / "hash-encoder").rglob("key.json"))
    assert keys and all(json.loads(p.read_text())["--numerics"] == json.dumps(NUMERICS) for p in keys)
    assert _run(hash_encoder, task, strategy, out, data_dir).resumed_cells == first.scores[0].test_scores.size
    for p in keys:
        _as_old_numerics(p)
    again = _run(hash_encoder, task, strategy, out, data_dir)
    assert again.resumed_cells == 0
    assert any("numerics" in n and "recomputing" in n for n in again.notes), again.notes
    if strategy == "ensemble":  # the folder was emptied and its CV computed again
        assert list((out / "cells" / "hash-encoder").rglob("cv_k5.npz"))
    for name, blob in tables.items():
        assert (out / name).read_bytes() == blob, name


def test_cells_fitted_on_embeddings_of_another_version_are_recomputed(hash_encoder, data_dir, tmp_path,
                                                                      monkeypatch):
    """Cells are keyed on the embeddings' version (molstrata, chunk format, batching): after
    a change of the batching policy (which changes embeddings' bytes) a resumed run refits
    them instead of reusing cells fitted on the old bytes."""
    from molstrata.embeddings import store

    out = tmp_path / "run"
    first = _run(hash_encoder, "hia_hou", "valid", out, data_dir)
    assert _run(hash_encoder, "hia_hou", "valid", out, data_dir).resumed_cells == first.scores[0].test_scores.size
    monkeypatch.setattr(store, "BATCHING_VERSION", store.BATCHING_VERSION + 100)
    again = _run(hash_encoder, "hia_hou", "valid", out, data_dir)
    assert again.resumed_cells == 0
    assert any("embeddings" in n and "recomputing" in n for n in again.notes), again.notes
