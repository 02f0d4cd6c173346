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

__all__ = ["EXECUTORS", "MAX_AUTO_JOBS", "N_JOBS_ENV", "Executor", "LocalExecutor", "from_cli",
           "get_executor", "resolve_n_jobs", "sleeping_openmp", "usable_cpus"]


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


#: the environment variable that replaces ``auto`` as the CLI's ``--n-jobs`` default
N_JOBS_ENV = "MOLSTRATA_N_JOBS"
#: ``--n-jobs auto`` never starts more worker processes than this
MAX_AUTO_JOBS = 8
#: the OpenMP setting :func:`from_cli` defaults to ``PASSIVE`` when it starts a local pool
OMP_WAIT_ENV = "OMP_WAIT_POLICY"


def usable_cpus() -> int:
    """The CPUs this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` elsewhere)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_n_jobs(value: int | str | None, n_items: int | None = None) -> int:
    """``--n-jobs`` as a worker count.

    Parameters
    ----------
    value : an integer >= 1, ``"auto"``, or ``None`` (the CLI default: ``MOLSTRATA_N_JOBS``
        when set, else ``"auto"``)
    n_items : the number of jobs the run will hand out (``auto`` never exceeds it)

    Returns
    -------
    int >= 1; ``auto`` = :func:`usable_cpus`, capped at :data:`MAX_AUTO_JOBS` and ``n_items``
    """
    import os

    from molstrata.core.errors import ConfigError

    where = "--n-jobs"
    if value is None:
        value = os.environ.get(N_JOBS_ENV, "").strip() or "auto"
        where = f"{N_JOBS_ENV}" if value != "auto" else where
    if isinstance(value, str) and value.strip().lower() == "auto":
        return max(1, min(usable_cpus(), MAX_AUTO_JOBS, n_items if n_items else MAX_AUTO_JOBS))
    try:
        n = int(str(value).strip()) if not isinstance(value, bool) else 0
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"{where} must be 'auto' or an integer >= 1, got {value!r}")
    return n


def sleeping_openmp(name: str = "local", n_jobs: int | str | None = 1) -> None:
    """Where ``--executor``/``--n-jobs`` give a local pool, default ``OMP_WAIT_POLICY`` to
    ``PASSIVE`` (a value already set is kept): this process embeds while the workers fit (the
    cold run), and the idle OpenMP threads of its torch must sleep, not spin on the cores the
    workers need (a 6-task cold job on 2 cores: 158 s with spinning threads, 50 s without;
    the thread count, hence every bit, is unchanged). OpenMP reads it when torch loads: the
    CLI calls this before anything imports torch."""
    import os

    if name == "local" and resolve_n_jobs(n_jobs) > 1:
        os.environ.setdefault(OMP_WAIT_ENV, "PASSIVE")


def from_cli(name: str = "local", address: str | None = "auto", *,
             n_jobs: int | str | None = 1,
             n_items: int | None = None) -> tuple[Executor | None, dict[str, Any]]:
    """``--executor`` / ``--ray-address`` / ``--n-jobs`` → (executor, its ``config.toml`` entry).

    ``local`` gives ``None``: the stage's own in-process loop (no process pool), unless
    ``n_jobs`` (:func:`resolve_n_jobs`; ``"auto"``/``None`` capped at ``n_items`` jobs)
    resolves to more than 1: a :class:`LocalExecutor` with that many worker processes, its
    fork server already starting (:meth:`LocalExecutor.start`); close it when the run ends.
    With such a pool, ``OMP_WAIT_POLICY`` defaults to ``PASSIVE`` (:func:`sleeping_openmp`).
    The entry is recorded in the run's ``config.toml`` only, never in what a resume compares,
    so a run started locally may be resumed on Ray and the other way round.
    """
    from molstrata.core.errors import ConfigError

    check_choice("--executor", name, EXECUTORS)
    explicit = n_jobs is not None and str(n_jobs).strip().lower() != "auto"
    if name != "local":
        if explicit and resolve_n_jobs(n_jobs) > 1:
            raise ConfigError("--n-jobs sets local worker processes; with --executor ray the cluster "
                              "decides (drop --n-jobs)")
        executor = get_executor(name, address=address)
        return executor, executor.describe()
    workers = resolve_n_jobs(n_jobs, n_items)
    if workers > 1:
        import sys

        sleeping_openmp(name, n_jobs)
        method = "forkserver" if sys.platform.startswith("linux") else "spawn"
        pool = LocalExecutor(workers, preload=("molstrata.runs.probe", "molstrata.runs._select"),
                             start_method=method)
        return pool.start(), {"executor": "local", "workers": workers}
    return None, {"executor": "local"}
