"""Issue #22, the local pool: one pool for a run's stages, shared arrays mapped once (not copied
into each worker), ``--n-jobs auto`` as the CLI's default, the longest jobs handed out first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import molstrata
from molstrata import scale
from molstrata.core.errors import ConfigError
from molstrata.runs._order import longest_first
from molstrata.scale import LocalExecutor, from_cli, resolve_n_jobs
from molstrata.scale._shared import PREFIX, Publisher

SRC = str(Path(molstrata.__file__).resolve().parents[1])


def _look(item: int, *, table: np.ndarray, scale_by: int) -> tuple[int, float, bool, int]:
    """(pid, sum of row ``item`` x scale_by, whether the array may be written, its id)."""
    return os.getpid(), float(table[item].sum() * scale_by), bool(table.flags.writeable), id(table)


def _files(pid: int) -> list[Path]:
    return [p for d in (Path("/dev/shm"), Path(os.environ.get("TMPDIR", "/tmp")))
            if d.is_dir() for p in d.glob(f"{PREFIX}{pid}-*")]


def test_one_pool_serves_every_map_and_maps_the_shared_array_once():
    table = np.arange(4000 * 64, dtype=np.float32).reshape(4000, 64)  # 1 MB: out of band
    with LocalExecutor(2, start_method="spawn") as ex:
        first = ex.map(_look, list(range(8)), shared={"table": table, "scale_by": 1})
        second = ex.map(_look, list(range(8)), shared={"table": table, "scale_by": 2})
        assert len(_files(os.getpid())) == 1  # the array's file, once for both maps
    assert [r[1] for r in first] == [float(table[i].sum()) for i in range(8)]
    assert [r[1] for r in second] == [2 * float(table[i].sum()) for i in range(8)]
    pids = {r[0] for r in first + second}
    assert os.getpid() not in pids and len(pids) <= 2  # the same workers for both maps
    assert not any(r[2] for r in first + second)  # mapped read-only, not a private copy
    # within a worker, the second map found the value it had read for the first
    by_pid = {}
    for r in first + second:
        by_pid.setdefault(r[0], set()).add(r[3])
    assert all(len(ids) == 1 for ids in by_pid.values())
    assert _files(os.getpid()) == []  # close() removed it


def test_a_value_no_longer_passed_is_dropped():
    pub = Publisher()
    a, b = np.ones((300, 300)), np.zeros((300, 300))
    first = pub.publish({"x": a})
    assert pub.publish({"x": a}) == first  # same object: same handle, no new file
    assert Path(first["x"][2]).is_file()
    pub.publish({"x": b})
    assert not Path(first["x"][2]).exists()
    pub.close()
    assert _files(os.getpid()) == []


def test_auto_is_the_usable_cpus_capped_at_8_and_the_jobs(monkeypatch):
    monkeypatch.delenv("MOLSTRATA_N_JOBS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(12)), raising=False)
    assert resolve_n_jobs("auto") == 8
    assert resolve_n_jobs(None, n_items=3) == 3
    assert resolve_n_jobs("auto", n_items=110) == 8
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    assert resolve_n_jobs(None, n_items=110) == 2
    assert resolve_n_jobs(5) == 5 and resolve_n_jobs("1") == 1
    monkeypatch.setenv("MOLSTRATA_N_JOBS", "3")
    assert resolve_n_jobs(None) == 3  # the environment replaces auto as the default
    assert resolve_n_jobs(1) == 1  # an explicit --n-jobs wins
    monkeypatch.setenv("MOLSTRATA_N_JOBS", "many")
    with pytest.raises(ConfigError, match="MOLSTRATA_N_JOBS must be 'auto' or an integer"):
        resolve_n_jobs(None)
    for bad in (0, "-1", "x", True):
        with pytest.raises(ConfigError, match="--n-jobs must be 'auto' or an integer"):
            resolve_n_jobs(bad)


def test_the_cli_default_starts_a_pool_and_ray_keeps_its_own(monkeypatch):
    monkeypatch.delenv("MOLSTRATA_N_JOBS", raising=False)
    monkeypatch.setattr(scale, "usable_cpus", lambda: 2)
    monkeypatch.setattr(LocalExecutor, "start", lambda self: self)
    executor, entry = from_cli("local", n_jobs=None, n_items=110)
    assert isinstance(executor, LocalExecutor) and entry == {"executor": "local", "workers": 2}
    assert from_cli("local", n_jobs=None, n_items=1) == (None, {"executor": "local"})
    with pytest.raises(ConfigError, match="--n-jobs"):
        from_cli("ray", n_jobs=2)


def test_bad_n_jobs_is_one_line_exit_2(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200"}
    for args, extra, where in ((["--n-jobs", "0"], {}, "--n-jobs"),
                               ([], {"MOLSTRATA_N_JOBS": "lots"}, "MOLSTRATA_N_JOBS")):
        done = subprocess.run([sys.executable, "-m", "molstrata.cli", "probe", "-t", "hia_hou", "-s", "1",
                               "-o", str(tmp_path / "out"), *args], capture_output=True, text=True,
                              env={**env, **extra}, timeout=300)
        lines = [x for x in done.stderr.splitlines() if x.strip()]
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert lines[0].startswith("error: ") and where in lines[0]


def test_the_longest_jobs_go_first():
    def split(kind, n):
        return SimpleNamespace(task_type=kind, train=range(n), valid=range(n // 10))

    splits = {("a", 1): split("regression", 900), ("b", 1): split("classification", 300),
              ("c", 1): split("regression", 100), ("d", 1): split("regression", 900)}
    jobs = [("a", 1, [0]), ("b", 1, [0]), ("c", 1, [0]), ("d", 1, [0])]
    assert longest_first(jobs, splits) == [0, 3, 1, 2]  # ties keep their order
    assert longest_first(jobs, splits, classification_weight=4.0) == [1, 0, 3, 2]
