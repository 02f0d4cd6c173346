"""The local executor: in this process (default), or a pool of local worker processes kept
for the whole run."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from molstrata.core.errors import ConfigError
from molstrata.scale.base import check_resources, delivering


def _call(fn: Callable[..., Any], item: Any, handles: Mapping[str, Any]) -> Any:
    """In a pool worker: ``fn(item, **shared)``, the shared values read once per run."""
    from molstrata.scale._shared import resolve

    return fn(item, **resolve(handles))


class LocalExecutor:
    """Run every item on this machine.

    Parameters
    ----------
    workers : 1 (default) calls ``fn`` in this process, in input order, with ``shared``
        passed as is (no copies); ``n > 1`` uses a pool of up to ``n`` processes, started at
        the first :meth:`map` (or :meth:`start`) and kept until :meth:`close`, so that the
        stages of a run share it. Tasks are handed out in input order (stages put their
        longest first). Each ``shared`` value reaches a worker once per run: its large
        arrays are mapped from one file that every worker reads (:mod:`molstrata.scale._shared`),
        not copied into each
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
        self._pool: Any = None
        self._publisher: Any = None
        self._batches: list[Pending] = []

    def start(self) -> LocalExecutor:
        """Start the fork server now (with ``preload``), so that it imports while this process
        reads data and loads models; a no-op for ``workers=1`` or ``spawn``. Returns self."""
        if self.workers > 1 and self.start_method == "forkserver":
            from multiprocessing import forkserver

            self._context()
            forkserver.ensure_running()
        return self

    def _context(self) -> Any:
        import multiprocessing as mp

        ctx = mp.get_context(self.start_method)
        if self.start_method == "forkserver" and self.preload:
            ctx.set_forkserver_preload(list(self.preload))
        return ctx

    def _open(self) -> Any:
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            from molstrata.scale._shared import Publisher

            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context())
            self._publisher = Publisher()
        return self._pool

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
            self._hand_out(fn, items, shared, deliver).wait()  # a failed task closes the pool
        return results

    def submit(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        shared: Mapping[str, Any] | None = None,
        resources: Mapping[str, float] | None = None,
        on_result: Callable[[int, Any], None] | None = None,
    ) -> Pending | None:
        """Hand ``fn(item, **shared)`` for every item to the pool and return at once, so that
        this process can do other work (embed) while the workers run them; ``None`` (nothing
        submitted) when there is no pool (``workers=1``): the caller then runs the items
        itself, e.g. through :meth:`map`.

        Tasks queue behind the ones already handed out and ahead of later ones. The results
        are delivered by :meth:`Pending.poll` / :meth:`Pending.wait`, on this process (so
        ``on_result`` runs here, in completion order); ``shared`` values stay published until
        the batch is delivered, whatever later maps publish.
        """
        check_resources(resources)
        if self.workers == 1:
            return None
        return self._hand_out(fn, items, dict(shared or {}), on_result)

    def _hand_out(self, fn: Callable[..., Any], items: Sequence[Any], shared: dict[str, Any],
                  on_result: Callable[[int, Any], None] | None) -> Pending:
        """Queue ``fn(item, **shared)`` for every item on the pool: the :class:`Pending`
        batch (``shared`` published, and kept so until the batch is delivered)."""
        pool = self._open()
        handles = self._publisher.publish(shared, pinned=self._pinned())
        futures = [pool.submit(_call, fn, item, handles) for item in items]
        batch = Pending(self, futures, list(shared.values()), on_result)
        self._batches.append(batch)
        return batch

    def _pinned(self) -> list[Any]:
        """The shared values of the batches not yet delivered (kept published)."""
        self._batches = [b for b in self._batches if not b.delivered]
        return [v for b in self._batches for v in b.values]

    def describe(self) -> dict[str, Any]:
        return {"executor": "local", "workers": self.workers}

    def close(self) -> None:
        """Stop the pool (waiting for its workers) and remove the shared files."""
        pool, self._pool = self._pool, None
        self._batches = []
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.close()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to release
            pass

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"


class Pending:
    """Tasks handed to a :class:`LocalExecutor`'s pool by :meth:`LocalExecutor.submit`, not
    yet delivered: :meth:`poll` delivers the finished ones, :meth:`wait` all of them."""

    def __init__(self, executor: LocalExecutor, futures: list[Any], values: list[Any],
                 on_result: Callable[[int, Any], None] | None) -> None:
        self._executor = weakref.ref(executor)  # no cycle: a dropped executor is still collected
        self._index = {fut: i for i, fut in enumerate(futures)}
        self._open = set(futures)
        self.values = values  # the shared values kept published until delivered
        self._on_result = on_result

    @property
    def delivered(self) -> bool:
        """Whether every result has been handed to ``on_result``."""
        return not self._open

    def poll(self) -> int:
        """Deliver the results finished so far (input order among them); how many."""
        return self._deliver([fut for fut in self._open if fut.done()])

    def wait(self) -> None:
        """Deliver every result, waiting for those still running (a failed task's error is
        raised here, after the pool is closed)."""
        from concurrent.futures import FIRST_COMPLETED, wait

        try:
            while self._open:
                done, _ = wait(self._open, return_when=FIRST_COMPLETED)
                self._deliver(list(done))
        except BaseException:
            self._abandon()
            raise

    def _deliver(self, done: list[Any]) -> int:
        try:
            for fut in sorted(done, key=self._index.__getitem__):
                result = fut.result()
                self._open.discard(fut)
                if self._on_result is not None:
                    self._on_result(self._index[fut], result)
        except BaseException:
            self._abandon()
            raise
        if not self._open:  # all delivered: let go of the callback and the values (no cycles)
            self._on_result, self.values = None, []
        return len(done)

    def _abandon(self) -> None:
        """After a failure (a task's error, an interrupt): cancel what is left and close the
        executor's pool (as a failed map always has)."""
        for fut in self._open:
            fut.cancel()
        self._open = set()
        executor = self._executor()
        if executor is not None:
            executor.close()
