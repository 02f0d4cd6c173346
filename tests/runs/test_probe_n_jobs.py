"""``--n-jobs N``: the probe fits and selections of a sweep run in N local worker processes
(the existing local executor) and write the same tables, byte for byte, as one process."""

from __future__ import annotations

import pytest

from molstrata.core.errors import ConfigError
from molstrata.runs import sweep
from molstrata.scale import LocalExecutor, from_cli

TASKS = "hia_hou,caco2_wang"
TABLES = ("probe_results.csv", "summary.csv", "selection.csv")


def test_n_jobs_gives_a_local_pool_and_refuses_ray():
    executor, entry = from_cli("local", n_jobs=2)
    assert isinstance(executor, LocalExecutor) and executor.workers == 2
    assert entry == {"executor": "local", "workers": 2}
    assert from_cli("local", n_jobs=1) == (None, {"executor": "local"})
    with pytest.raises(ConfigError, match="--n-jobs"):
        from_cli("ray", "auto", n_jobs=2)
    with pytest.raises(ConfigError, match="--n-jobs"):
        from_cli("local", n_jobs=0)


def test_sweep_with_two_workers_writes_the_same_tables(hash_encoder, data_dir, tmp_path):
    one = tmp_path / "one"
    two = tmp_path / "two"
    sweep([hash_encoder], TASKS, [1, 2], out=one, data_dir=data_dir, report=False, progress=False)
    executor, _ = from_cli("local", n_jobs=2)
    sweep([hash_encoder], TASKS, [1, 2], out=two, data_dir=data_dir, report=False, progress=False,
          executor=executor)
    for name in TABLES:
        assert (two / name).read_bytes() == (one / name).read_bytes(), name
