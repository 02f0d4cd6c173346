"""The Ray executor. This is the only module of molstrata that imports ``ray``, and only
when a Ray executor is built (``pip install 'molstrata[ray]'``).

Connecting (``address``)
------------------------
- this process is already connected (``ray.init`` was called before): that connection is
  used and left open;
- ``"auto"`` (the default of ``--ray-address``): connect to the running cluster that
  ``RAY_ADDRESS`` names, or else the one ``ray start --head`` started on this machine; if
  there is none (and ``RAY_ADDRESS`` is unset), start a local Ray instance in this process
  with every CPU (and GPU) of the machine, shut down again by :meth:`RayExecutor.close` or
  at exit;
- ``"local"``: always start a fresh local instance;
- anything else (``"10.0.0.5:6379"``, ``"ray://head:10001"``): connect there, or fail with a
  :class:`~molstrata.core.errors.ConfigError` naming the address.

A local start takes seconds on a quiet machine. On a heavily loaded one Ray's raylet may
give up waiting for its agent processes (a fixed 15 s in Ray 2.60); the start is then tried
once more, and if it fails again, ``ray start --head`` beforehand avoids the problem.

Workers of an existing cluster import molstrata themselves: install it (same version) in
the Python environment every node runs.

Failures
--------
Tasks run with ``max_retries`` (default 3): a worker process or node that dies mid-task
(killed, preempted, out of memory) has its task rerun by Ray. Exceptions raised by the
task's own code are not retried unless ``retry_exceptions=True`` (a configuration error
fails the same way every time); they reach the caller as the original exception type.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from molstrata.core.errors import ConfigError, OptionalDependencyError
from molstrata.scale.base import check_resources, delivering


def import_ray() -> Any:
    """The ``ray`` module, or :class:`OptionalDependencyError` with the install line."""
    try:
        import ray
    except ImportError as exc:
        raise OptionalDependencyError(
            "--executor ray needs Ray, an optional extra: pip install 'molstrata[ray]' "
            f"(import failed: {exc})"
        ) from exc
    return ray


def _start_local(ray: Any, kwargs: Mapping[str, Any], attempts: int = 2) -> None:
    """``ray.init`` a local instance; on a busy machine Ray's raylet may give up waiting for
    its agents (a fixed 15 s), so a start-up that timed out is tried once more."""
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**kwargs)
            return
        except Exception as exc:
            ray.shutdown()
            if attempt == attempts or "timed out during startup" not in str(exc):
                raise ConfigError(
                    f"could not start a local Ray instance ({exc}); on a busy machine start one "
                    "first with `ray start --head`, then use --ray-address auto"
                ) from exc


def patient_local_start(setattr_fn: Callable[[Any, str, Any], None] = setattr,
                        wait_s: float = 120.0) -> None:
    """Let a local Ray instance start on a loaded box (tests and benchmarks only).

    Ray 2.60's raylet waits a hard-coded 15 s for the port files of its agents (Python
    processes that take longer than that to import ray when the CPUs are busy) and aborts;
    ``ray.init`` then waits a hard-coded 30 s for the raylet. With the agents' ports chosen
    up front the raylet reads no port file, and the driver's wait retries for ``wait_s``.
    This patches **private** Ray API, so product code never calls it. ``setattr_fn`` is
    ``monkeypatch.setattr`` in tests (undone afterwards) or the builtin ``setattr``.
    """
    import socket
    import time

    import ray._private.parameter as parameter
    import ray._private.services as services
    import ray._private.utils as ray_utils

    real_init, real_get_node = parameter.RayParams.__init__, services.get_node

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        for name in ("metrics_agent_port", "metrics_export_port", "runtime_env_agent_port"):
            if not getattr(self, name):
                setattr(self, name, free_port())

    def get_node(*args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return real_get_node(*args, **kwargs)
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    setattr_fn(parameter.RayParams, "__init__", init)
    setattr_fn(services, "get_node", get_node)
    # agents in "minimal" mode (as with `pip install ray`): fewer modules to import
    setattr_fn(ray_utils, "get_dashboard_dependency_error", lambda: "minimal (patient start)")


class RayExecutor:
    """Run items as Ray tasks, on a cluster or a local Ray instance.

    Parameters
    ----------
    address : ``"auto"`` (connect, else start locally), ``"local"`` or a cluster address;
        see the module docstring
    max_retries : reruns of a task whose worker died (Ray's ``max_retries``)
    retry_exceptions : also rerun tasks that raised (Ray's ``retry_exceptions``)
    num_cpus : CPUs of a local instance started here (default: all)
    init_kwargs : more keyword arguments of ``ray.init`` when this executor connects
    """

    name = "ray"
    embeds = True

    def __init__(
        self,
        address: str | None = "auto",
        *,
        max_retries: int = 3,
        retry_exceptions: bool = False,
        num_cpus: int | None = None,
        init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        ray = import_ray()
        if int(max_retries) < 0:
            raise ConfigError(f"max_retries must be >= 0, got {max_retries}")
        self.address = address or "auto"
        self.max_retries = int(max_retries)
        self.retry_exceptions = bool(retry_exceptions)
        self._started = False
        kw = dict(init_kwargs or {})
        local = {"num_cpus": num_cpus, "include_dashboard": False, **kw}
        if ray.is_initialized():
            self.mode = "connected"
        elif self.address == "auto":
            try:
                ray.init(address="auto", **kw)
                self.mode = "cluster"
            except ConnectionError:
                if os.environ.get("RAY_ADDRESS"):
                    raise ConfigError(
                        f"RAY_ADDRESS={os.environ['RAY_ADDRESS']!r}: no Ray cluster answers there; "
                        "unset it to start a local Ray instance"
                    ) from None
                _start_local(ray, local)
                self.mode, self._started = "local", True
        elif self.address == "local":
            _start_local(ray, {"address": "local", **local})
            self.mode, self._started = "local", True
        else:
            try:
                ray.init(address=self.address, **kw)
            except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
                raise ConfigError(
                    f"--ray-address {self.address!r}: could not connect to a Ray cluster there "
                    f"({exc}); start one with `ray start --head` or use --ray-address auto"
                ) from exc
            self.mode = "cluster"

    # ----------------------------------------------------------------------------- info
    def cluster_resources(self) -> dict[str, float]:
        """The cluster's total resources (``CPU``, ``GPU``, ``memory``...)."""
        return dict(import_ray().cluster_resources())

    def _task_options(self, resources: Mapping[str, float] | None) -> dict[str, Any]:
        res = check_resources(resources)
        res.setdefault("num_cpus", 1)
        if res.get("num_gpus") and not self.cluster_resources().get("GPU", 0):
            res.pop("num_gpus")  # a CPU-only cluster: asking for a GPU would wait forever
        return {**res, "max_retries": self.max_retries, "retry_exceptions": self.retry_exceptions}

    # ----------------------------------------------------------------------------- map
    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        shared: Mapping[str, Any] | None = None,
        resources: Mapping[str, float] | None = None,
        desc: str | None = None,
        on_result: Callable[[int, Any], None] | None = None,
        keep: bool = True,
    ) -> list[Any]:
        """See :meth:`molstrata.scale.base.Executor.map`.

        Each ``shared`` value is stored once in Ray's object store (``ray.put``); tasks
        receive it zero-copy (numpy arrays are read-only there). One task per item.
        """
        ray = import_ray()
        items = list(items)
        if not items:
            return []
        options = self._task_options(resources)
        remote = ray.remote(fn).options(name=getattr(fn, "__name__", "molstrata-task"), **options)
        shared_refs = {key: ray.put(value) for key, value in (shared or {}).items()}
        where = {remote.remote(item, **shared_refs): i for i, item in enumerate(items)}
        results: list[Any] = [None] * len(items)
        pending = list(where)
        try:
            with delivering(results, desc, on_result=on_result, keep=keep) as deliver:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    for ref in done:
                        i = where.pop(ref)
                        result = ray.get(ref)  # re-raises the task's exception
                        del ref
                        deliver(i, result)
                        del result
        except BaseException:
            for ref in pending:
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 (already finished or gone)
                    pass
            raise
        return results

    # ----------------------------------------------------------------------------- life
    def describe(self) -> dict[str, Any]:
        return {"executor": "ray", "ray_address": self.address, "max_retries": self.max_retries}

    def close(self) -> None:
        """Shut down the local Ray instance this executor started (a cluster is left alone)."""
        if self._started:
            import_ray().shutdown()
            self._started = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, mode={self.mode!r})"
