"""Issue 20, the ECFP4 baseline's cost: its cells do not depend on the encoder, so a run into a
fresh folder (any encoder) reads them back from the cache folder instead of refitting the
probe on 2048-d counts, with the same ``baseline.csv`` bytes; ``--no-cache`` refits."""

from __future__ import annotations

import pytest

import molstrata.runs._baseline as baseline_module
from molstrata.runs import sweep

TASK = "caco2_wang"


def _run(enc, out, data_dir, **kw):
    return sweep([enc], TASK, [1, 2], out=out, data_dir=data_dir, report=False, progress=False,
                 strategy="valid", baseline="ecfp", **kw)


def test_a_fresh_folder_reads_the_baseline_cells_from_the_cache(hash_encoder, data_dir, tmp_path,
                                                                monkeypatch):
    _run(hash_encoder, tmp_path / "a", data_dir)
    first = (tmp_path / "a" / "baseline.csv").read_bytes()

    def no_fit(*args, **kwargs):
        raise AssertionError("the baseline probe was refitted")

    monkeypatch.setattr(baseline_module, "fit_layers", no_fit)
    _run(hash_encoder, tmp_path / "b", data_dir)
    assert (tmp_path / "b" / "baseline.csv").read_bytes() == first
    assert (tmp_path / "b" / "cells" / "ecfp4-counts" / TASK / "seed2" / "layer000.npz").is_file()
    with pytest.raises(AssertionError, match="refitted"):
        _run(hash_encoder, tmp_path / "c", data_dir, use_cache=False)


def test_the_baseline_cells_through_a_worker_pool_are_the_same(hash_encoder, data_dir, tmp_path):
    from molstrata.scale import from_cli

    _run(hash_encoder, tmp_path / "one", data_dir, use_cache=False)
    executor, _ = from_cli("local", n_jobs=2)
    _run(hash_encoder, tmp_path / "two", data_dir, use_cache=False, executor=executor)
    assert (tmp_path / "two" / "baseline.csv").read_bytes() == (tmp_path / "one" / "baseline.csv").read_bytes()
