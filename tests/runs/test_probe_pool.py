"""Issue #22: a sweep with a local pool starts one pool for all its stages (probe cells,
selection, saved predictors, baseline) and writes what one process writes, byte for byte:
the tables and every saved predictor file."""

from __future__ import annotations

import concurrent.futures as cf

from molstrata.runs import sweep
from molstrata.scale import from_cli

TASKS = "hia_hou,caco2_wang"
TABLES = ("probe_results.csv", "summary.csv", "selection.csv", "baseline.csv")


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_one_pool_for_the_whole_sweep_same_bytes(hash_encoder, data_dir, tmp_path, monkeypatch):
    one, two = tmp_path / "one", tmp_path / "two"
    kw = dict(data_dir=data_dir, report=False, progress=False, baseline="ecfp", use_cache=False)
    sweep([hash_encoder], TASKS, [1, 2], out=one, **kw)
    pools = []
    real = cf.ProcessPoolExecutor

    class Counted(real):
        def __init__(self, *args, **kwargs):
            pools.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(cf, "ProcessPoolExecutor", Counted)
    executor, _ = from_cli("local", n_jobs=2)
    try:
        sweep([hash_encoder], TASKS, [1, 2], out=two, executor=executor, **kw)
    finally:
        executor.close()
    assert len(pools) == 1
    for name in TABLES:
        assert (two / name).read_bytes() == (one / name).read_bytes(), name
    models = _files(one / "models")
    assert models and _files(two / "models") == models
