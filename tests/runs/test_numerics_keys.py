"""Cells and CV caches made by other ridge numerics (:data:`molstrata.probe._numerics.NUMERICS`,
issue 22) are recomputed, not mixed into a resumed run."""

from __future__ import annotations

import json

from molstrata.probe._numerics import NUMERICS
from molstrata.runs import sweep

TASK = "caco2_wang"


def _run(enc, out, data_dir):
    return sweep([enc], TASK, [1], out=out, data_dir=data_dir, report=False, progress=False,
                 strategy="ensemble", baseline="none")


def test_cells_of_other_numerics_are_recomputed(hash_encoder, data_dir, tmp_path):
    out = tmp_path / "run"
    first = _run(hash_encoder, out, data_dir)
    tables = {n: (out / n).read_bytes() for n in ("probe_results.csv", "selection_seeds.csv")}
    keys = list((out / "cells" / "hash-encoder").rglob("key.json"))
    assert keys and all(json.loads(p.read_text())["--numerics"] == json.dumps(NUMERICS) for p in keys)
    assert _run(hash_encoder, out, data_dir).resumed_cells == first.scores[0].test_scores.size
    for p in keys:  # as the code before the numerics version wrote them
        key = json.loads(p.read_text())
        del key["--numerics"]
        p.write_text(json.dumps(key, sort_keys=True, indent=2))
    (cv_file,) = (out / "cells" / "hash-encoder").rglob("cv_k5.npz")
    again = _run(hash_encoder, out, data_dir)
    assert again.resumed_cells == 0
    assert any("numerics" in n and "recomputing" in n for n in again.notes), again.notes
    assert cv_file.is_file()  # the folder was emptied and its CV computed again
    for name, blob in tables.items():
        assert (out / name).read_bytes() == blob, name
