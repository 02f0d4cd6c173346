"""Scale-out: run the independent pieces of a sweep on an executor.

``get_executor("local")`` (the default: in this process) or ``get_executor("ray",
address="auto")``. Stages take an ``executor`` argument and hand it a module-level
function plus a list of items (embedding chunks, probe cells, finetune trials); see
:class:`~molstrata.scale.base.Executor`. Nothing outside :mod:`molstrata.scale.ray_executor`
imports ``ray``, and local runs never need it.
"""

from __future__ import annotations

from typing import Any

from molstrata.core.errors import check_choice
from molstrata.scale.base import EXECUTORS, Executor
from molstrata.scale.local import LocalExecutor

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "from_cli", "get_executor"]


def get_executor(
    name: str = "local",
    *,
    address: str | None = "auto",
    workers: int = 1,
    max_retries: int = 3,
    **ray_options: Any,
) -> Executor:
    """The executor behind ``--executor`` / ``--ray-address``.

    Parameters
    ----------
    name : ``"local"`` or ``"ray"``
    address : Ray only: ``"auto"`` (connect to a running cluster, else start a local Ray
        instance), ``"local"`` or a cluster address (see :mod:`molstrata.scale.ray_executor`)
    workers : local only: 1 runs in this process; more uses a process pool
    max_retries : Ray only: reruns of a task whose worker died
    ray_options : more :class:`~molstrata.scale.ray_executor.RayExecutor` options

    Returns
    -------
    Executor
    """
    check_choice("--executor", name, EXECUTORS)
    if name == "local":
        return LocalExecutor(workers)
    from molstrata.scale.ray_executor import RayExecutor

    return RayExecutor(address, max_retries=max_retries, **ray_options)


def from_cli(name: str = "local", address: str | None = "auto", *,
             n_jobs: int = 1) -> tuple[Executor | None, dict[str, Any]]:
    """``--executor`` / ``--ray-address`` / ``--n-jobs`` → (executor, its ``config.toml`` entry).

    ``local`` gives ``None``: the stage's own in-process loop (no process pool), unless
    ``n_jobs > 1``: a :class:`LocalExecutor` with that many worker processes. The entry
    is recorded in the run's ``config.toml`` only, never in what a resume compares, so a
    run started locally may be resumed on Ray and the other way round.
    """
    from molstrata.core.errors import ConfigError

    check_choice("--executor", name, EXECUTORS)
    if isinstance(n_jobs, bool) or int(n_jobs) < 1:
        raise ConfigError(f"--n-jobs must be an integer >= 1, got {n_jobs!r}")
    if name != "local" and int(n_jobs) > 1:
        raise ConfigError("--n-jobs sets local worker processes; with --executor ray the cluster "
                          "decides (drop --n-jobs)")
    if name == "local":
        if int(n_jobs) > 1:
            import sys

            method = "forkserver" if sys.platform.startswith("linux") else "spawn"
            pool = LocalExecutor(int(n_jobs), preload=("molstrata.runs.probe", "molstrata.runs._select"),
                                 start_method=method)
            return pool, {"executor": "local", "workers": int(n_jobs)}
        return None, {"executor": "local"}
    executor = get_executor(name, address=address)
    return executor, executor.describe()
