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
