"""The local executor: in this process (default), or a pool of local worker processes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from molstrata.core.errors import ConfigError
from molstrata.scale.base import check_resources, delivering

#: per-process copy of ``shared`` in pool workers (set once by the pool initializer)
_SHARED: dict[str, Any] = {}


def _init_worker(shared: Mapping[str, Any]) -> None:
    _SHARED.clear()
    _SHARED.update(shared)


def _call(fn: Callable[..., Any], item: Any) -> Any:
    return fn(item, **_SHARED)


class LocalExecutor:
    """Run every item on this machine.

    Parameters
    ----------
    workers : 1 (default) calls ``fn`` in this process, in input order, with ``shared``
        passed as is (no copies); ``n > 1`` uses a pool of ``n`` spawned processes, each
        receiving ``shared`` once, at start-up
    preload : with ``start_method="forkserver"``, modules the fork server imports once, so
        that each worker starts already holding them instead of importing them (seconds each
        for torch and scikit-learn)
    start_method : ``"spawn"`` (default) or ``"forkserver"`` (POSIX)
    """

    name = "local"
    #: a local pool shares this machine's memory and cores: one encoder, in the calling process
    embeds = False

    def __init__(self, workers: int = 1, *, preload: tuple[str, ...] = (),
                 start_method: str = "spawn") -> None:
        if int(workers) < 1:
            raise ConfigError(f"local executor: workers must be >= 1, got {workers}")
        if start_method not in ("spawn", "forkserver"):
            raise ConfigError(f"local executor: start_method must be spawn or forkserver, got {start_method!r}")
        self.workers = int(workers)
        self.preload = tuple(preload)
        self.start_method = start_method

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
        """See :meth:`molstrata.scale.base.Executor.map`; ``resources`` are checked, not used."""
        check_resources(resources)
        shared = dict(shared or {})
        items = list(items)
        results: list[Any] = [None] * len(items)
        with delivering(results, desc, on_result=on_result, keep=keep) as deliver:
            if self.workers == 1 or len(items) <= 1:
                for i, item in enumerate(items):
                    deliver(i, fn(item, **shared))
                return results
            import multiprocessing as mp
            from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

            ctx = mp.get_context(self.start_method)
            if self.start_method == "forkserver" and self.preload:
                ctx.set_forkserver_preload(list(self.preload))
            with ProcessPoolExecutor(
                max_workers=min(self.workers, len(items)), mp_context=ctx,
                initializer=_init_worker, initargs=(shared,),
            ) as pool:
                futures = {pool.submit(_call, fn, item): i for i, item in enumerate(items)}
                pending = set(futures)
                try:
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in sorted(done, key=futures.__getitem__):
                            i = futures.pop(fut)
                            deliver(i, fut.result())
                except BaseException:
                    for fut in pending:
                        fut.cancel()
                    raise
        return results

    def describe(self) -> dict[str, Any]:
        return {"executor": "local", "workers": self.workers}

    def close(self) -> None:
        """Nothing to release: a pool lives only for one :meth:`map`."""

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"
