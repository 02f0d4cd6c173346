"""The executor contract without Ray running: local executors, errors, and the rule that
nothing but ``molstrata.scale.ray_executor`` imports ray."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

from molstrata.core.errors import ConfigError, OptionalDependencyError
from molstrata.scale import LocalExecutor, from_cli, get_executor
from molstrata.scale.base import Executor

SRC = Path(__file__).resolve().parents[2] / "src" / "molstrata"


def _power(item: int, *, exponent: int, offset: int = 0) -> tuple[int, int]:
    """A module-level task (importable by spawned pool workers): (item**exponent + offset, pid)."""
    return item**exponent + offset, os.getpid()


def test_in_process_map_keeps_input_order_and_passes_shared():
    seen = []
    ex = get_executor("local")
    assert isinstance(ex, LocalExecutor) and isinstance(ex, Executor)
    out = ex.map(_power, [3, 1, 2], shared={"exponent": 2, "offset": 1},
                 on_result=lambda i, r: seen.append((i, r[0])))
    assert [r[0] for r in out] == [10, 2, 5]
    assert {r[1] for r in out} == {os.getpid()}  # workers=1: this process
    assert seen == [(0, 10), (1, 2), (2, 5)]
    assert ex.map(_power, [4], shared={"exponent": 1}, keep=False) == [None]
    assert ex.map(_power, [], shared={"exponent": 1}) == []


def test_process_pool_gives_the_same_results_from_other_processes():
    seen = {}
    out = LocalExecutor(workers=2).map(_power, list(range(6)), shared={"exponent": 3},
                                       on_result=lambda i, r: seen.__setitem__(i, r[0]))
    assert [r[0] for r in out] == [i**3 for i in range(6)]
    assert os.getpid() not in {r[1] for r in out}
    assert seen == {i: i**3 for i in range(6)}


def test_task_exceptions_reach_the_caller():
    with pytest.raises(TypeError):
        LocalExecutor().map(_power, [1], shared={"wrong": 1})


def test_bad_names_and_resources_are_refused():
    with pytest.raises(ConfigError, match="--executor.*'dask'"):
        get_executor("dask")
    with pytest.raises(ConfigError, match="gpus"):
        LocalExecutor().map(_power, [1], shared={"exponent": 1}, resources={"gpus": 1})
    with pytest.raises(ConfigError, match="workers"):
        LocalExecutor(workers=0)


def test_local_on_the_command_line_is_the_in_process_loop():
    assert from_cli("local", "auto") == (None, {"executor": "local"})


def test_missing_ray_gives_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" now raises ImportError
    with pytest.raises(OptionalDependencyError, match=r"pip install 'molstrata\[ray\]'"):
        get_executor("ray")


def test_only_the_ray_executor_imports_ray():
    importers = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(n == "ray" or n.startswith("ray.") for n in names):
                importers.append(path.relative_to(SRC).as_posix())
    assert sorted(set(importers)) == ["scale/ray_executor.py"]


# ------------------------------------------------------------------ RayExecutor's own logic
class _Ref:
    def __init__(self, value=None, error=None):
        self.value, self.error = value, error


class _FakeRay:
    """Just enough of ``ray`` to check RayExecutor's connecting, options and bookkeeping in
    this process: tasks run at submission; ``wait`` hands results back last-submitted first."""

    def __init__(self, *, cluster: bool = False, gpus: int = 0):
        self.cluster, self.gpus = cluster, gpus
        self.initialized, self.inits, self.options, self.puts, self.cancelled = False, [], [], [], []

    def is_initialized(self):
        return self.initialized

    def init(self, address=None, **kwargs):
        self.inits.append((address, kwargs))
        if address == "auto" and not self.cluster:
            raise ConnectionError("Could not find any running Ray instance")
        self.initialized = True

    def shutdown(self):
        self.initialized = False

    def cluster_resources(self):
        return {"CPU": 2.0, **({"GPU": float(self.gpus)} if self.gpus else {})}

    def put(self, value):
        self.puts.append(value)
        return _Ref(value)

    def remote(self, fn):
        fake = self

        class Remote:
            def options(self, **kw):
                fake.options.append(kw)
                return self

            def remote(self, item, **kw):
                assert all(isinstance(v, _Ref) for v in kw.values())  # shared: by reference
                try:
                    return _Ref(fn(item, **{k: v.value for k, v in kw.items()}))
                except Exception as exc:  # noqa: BLE001
                    return _Ref(error=exc)

        return Remote()

    def wait(self, pending, num_returns=1):
        return pending[-num_returns:], pending[:-num_returns]

    def get(self, ref):
        if ref.error is not None:
            raise ref.error
        return ref.value

    def cancel(self, ref):
        self.cancelled.append(ref)


def _ray_executor(monkeypatch, fake, address="auto", **kw):
    from molstrata.scale.ray_executor import RayExecutor

    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return RayExecutor(address, **kw)


def test_auto_joins_a_running_cluster_else_starts_a_local_instance(monkeypatch):
    fake = _FakeRay(cluster=True)
    ex = _ray_executor(monkeypatch, fake)
    assert ex.mode == "cluster" and fake.inits == [("auto", {})]
    ex.close()
    assert fake.initialized  # a cluster it joined is left running

    fake = _FakeRay(cluster=False)
    ex = _ray_executor(monkeypatch, fake, num_cpus=2)
    assert ex.mode == "local"
    assert fake.inits[0][0] == "auto"
    assert fake.inits[1] == (None, {"num_cpus": 2, "include_dashboard": False})
    ex.close()
    assert not fake.initialized  # the instance it started is shut down


def test_an_unreachable_address_is_named(monkeypatch):
    class Unreachable(_FakeRay):
        def init(self, address=None, **kwargs):
            raise ConnectionError(f"no cluster at {address}")

    with pytest.raises(ConfigError, match="--ray-address '10.9.9.9:6379'"):
        _ray_executor(monkeypatch, Unreachable(), address="10.9.9.9:6379")
    monkeypatch.setenv("RAY_ADDRESS", "10.9.9.9:6379")
    from molstrata.scale.ray_executor import RayExecutor

    with pytest.raises(ConfigError, match="RAY_ADDRESS"):  # never silently started locally
        RayExecutor("auto")


def test_map_returns_input_order_and_ships_shared_values_once(monkeypatch):
    fake = _FakeRay()
    ex = _ray_executor(monkeypatch, fake)
    seen = []
    out = ex.map(_power, [1, 2, 3, 4], shared={"exponent": 2, "offset": 10},
                 resources={"num_gpus": 1}, on_result=lambda i, r: seen.append(i))
    assert [r[0] for r in out] == [11, 14, 19, 26]
    assert seen == [3, 2, 1, 0]  # completion order, not input order
    assert fake.puts == [2, 10]  # each shared value put once, not once per item
    # no GPU in the cluster: num_gpus is not requested (the task would wait forever)
    assert fake.options[-1] == {"name": "_power", "num_cpus": 1, "max_retries": 3,
                                "retry_exceptions": False}
    assert ex.map(_power, [5], shared={"exponent": 1}, keep=False) == [None]

    fake.gpus = 1
    ex.map(_power, [1], shared={"exponent": 1}, resources={"num_gpus": 1})
    assert fake.options[-1]["num_gpus"] == 1


def test_a_failing_task_cancels_the_rest_and_raises(monkeypatch):
    fake = _FakeRay()
    ex = _ray_executor(monkeypatch, fake)
    with pytest.raises(TypeError):
        ex.map(_power, [1, "x", 3], shared={"exponent": 2})  # "x" ** 2 fails
    assert len(fake.cancelled) == 1  # item 0 was still pending when item 1 failed


def test_the_selection_phase_through_an_executor_matches_and_ships_its_cache(
        tiny_roberta_dir, data_dir, tmp_path, monkeypatch):
    """The CV / combination strategies run through an executor's map (one job per (task,
    seed)): same tables and the same cache files as the in-process loop, written back by the
    calling process; a rerun through the executor reuses them (no CV recomputed)."""
    import molstrata.probe.strategies as strategies
    from molstrata.encoders import load_encoder
    from molstrata.runs import sweep

    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path / "cache"))
    enc = load_encoder(str(tiny_roberta_dir), device="cpu")
    runs = {}
    for name, ex in (("plain", None), ("executor", LocalExecutor())):
        runs[name] = tmp_path / name
        sweep([enc], "caco2_wang", [1, 2], out=runs[name], data_dir=data_dir, report=False,
              progress=False, strategy="valid,cv,ensemble,concat", executor=ex)
    for table in ("probe_results.csv", "summary.csv", "leaderboard.json", "selection.csv"):
        assert (runs["plain"] / table).read_bytes() == (runs["executor"] / table).read_bytes(), table

    def cache_files(run: Path) -> dict[str, bytes]:
        return {str(p.relative_to(run)): p.read_bytes() for p in (run / "cells").rglob("*.npz")
                if not p.name.startswith("layer")}

    plain, shipped = cache_files(runs["plain"]), cache_files(runs["executor"])
    assert len(plain) >= 2 and plain == shipped  # CV results of both seeds, byte-equal

    def no_cv(*args, **kwargs):
        raise AssertionError("the CV was recomputed instead of read from the run's cache")

    monkeypatch.setattr(strategies, "cross_validate", no_cv)
    before = (runs["executor"] / "selection.csv").read_bytes()
    sweep([enc], "caco2_wang", [1, 2], out=runs["executor"], data_dir=data_dir, report=False,
          progress=False, strategy="valid,cv,ensemble,concat", executor=LocalExecutor())
    assert (runs["executor"] / "selection.csv").read_bytes() == before
