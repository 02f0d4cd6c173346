"""The executor contract: run one function over many independent items, return the results
in input order.

A stage hands an executor a **module-level** function ``fn`` and a list of picklable items;
the executor calls ``fn(item, **shared)`` for each item, wherever it runs them (this process,
a process pool, a Ray cluster), and returns the results **in input order**. ``shared`` holds
the large read-only objects every call needs (an embeddings matrix, the task splits): an
executor ships each of them once (Ray: one ``ray.put``), never once per item. ``on_result``
runs on the calling process, in completion order, as each result arrives: stages use it to
write a finished cell to disk at once, so a run killed at any point resumes from what is
written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from molstrata.core.errors import ConfigError
from molstrata.core.progress import progress

T = TypeVar("T")
R = TypeVar("R")

#: executor names accepted by ``--executor``
EXECUTORS = ("local", "ray")

#: resource keys a task may request (Ray's names); other executors ignore them
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")


@runtime_checkable
class Executor(Protocol):
    """Runs ``fn(item, **shared)`` for every item; results come back in input order.

    Attributes
    ----------
    name : ``"local"`` or ``"ray"``
    embeds : whether its workers may embed (each holds its own copy of the encoder); when
        false, :func:`~molstrata.embeddings.embed_cached` embeds in the calling process and
        the executor runs only the probe and selection jobs
    """

    name: str
    embeds: bool

    def map(
        self,
        fn: Callable[..., R],
        items: Sequence[T],
        *,
        shared: Mapping[str, Any] | None = None,
        resources: Mapping[str, float] | None = None,
        desc: str | None = None,
        on_result: Callable[[int, R], None] | None = None,
        keep: bool = True,
    ) -> list[R | None]:
        """Call ``fn(item, **shared)`` for each of ``items``.

        Parameters
        ----------
        fn : a module-level (importable) function
        items : sequence of picklable items, length n_items
        shared : keyword arguments passed to every call, shipped to workers once
        resources : what one call needs, in Ray's terms (``num_cpus``, ``num_gpus``,
            ``memory``); ``num_gpus`` is only requested where the cluster has GPUs
        desc : show a progress bar with this description (``None``: no bar)
        on_result : ``on_result(i, result)`` on the calling process as each item finishes,
            in completion order
        keep : keep the results; ``False`` frees each once ``on_result`` has seen it and
            returns a list of ``None``

        Returns
        -------
        list of length n_items, ``fn``'s results in input order
        """
        ...

    def describe(self) -> dict[str, Any]:
        """What goes into a run's ``config.toml`` (never into its resume identity)."""
        ...

    def close(self) -> None:
        """Release what this executor started (a process pool, a local Ray instance)."""
        ...


def check_resources(resources: Mapping[str, float] | None) -> dict[str, float]:
    """``resources`` as a dict, refusing unknown keys and negative amounts."""
    out = dict(resources or {})
    for key, value in out.items():
        if key not in RESOURCE_KEYS:
            raise ConfigError(f"unknown task resource {key!r}; valid: {', '.join(RESOURCE_KEYS)}")
        if value is None or float(value) < 0:
            raise ConfigError(f"task resource {key}={value!r} must be a number >= 0")
    return out


@contextmanager
def delivering(results: list[Any], desc: str | None, *,
               on_result: Callable[[int, Any], None] | None,
               keep: bool) -> Iterator[Callable[[int, Any], None]]:
    """How every executor hands back one finished task: yields ``deliver(i, result)``, which
    calls ``on_result(i, result)``, stores ``results[i]`` when ``keep`` and advances the
    progress bar (:func:`molstrata.core.progress.progress`; none when ``desc`` is None).

    ``results`` : list of length n_items, filled in place.
    """
    with progress(desc or "", len(results), show=desc is not None) as bar:

        def deliver(i: int, result: Any) -> None:
            if on_result is not None:
                on_result(i, result)
            if keep:
                results[i] = result
            bar.advance(1)

        yield deliver
