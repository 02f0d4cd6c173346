"""The one progress bar of molstrata: rich, on stderr, with elapsed time and ETA.

Every long loop (embedding, probing, selection, finetuning, conformers, analyses, executor
maps) reports through :func:`progress`; ``show=False`` gives a bar whose methods do nothing,
so callers never branch on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Bar", "progress", "stderr_console"]


def stderr_console() -> Any:
    """A :class:`rich.console.Console` writing to stderr (stdout stays for results)."""
    from rich.console import Console

    return Console(stderr=True)


class Bar:
    """One task of a rich progress display (or nothing when ``progress`` is None)."""

    def __init__(self, progress: Any = None, task: Any = None) -> None:
        self._progress, self._task = progress, task

    def __bool__(self) -> bool:
        return self._progress is not None

    def advance(self, n: float = 1, description: str | None = None) -> None:
        """Advance by ``n`` steps; optionally replace the description."""
        if self._progress is not None:
            kw = {"description": description} if description else {}
            self._progress.update(self._task, advance=n, **kw)

    def describe(self, description: str) -> None:
        """Replace the description without advancing."""
        if self._progress is not None:
            self._progress.update(self._task, description=description)


@contextmanager
def progress(description: str, total: float | None, *, show: bool = True,
             transient: bool = False) -> Iterator[Bar]:
    """A progress bar of ``total`` steps labelled ``description``: ``with progress(...) as bar:
    bar.advance()``. ``show=False`` (or ``total == 0``) yields a no-op :class:`Bar`."""
    from molstrata.core.log import is_quiet

    if not show or total == 0 or is_quiet():
        yield Bar()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn(), console=stderr_console(),
                   transient=transient)
    with bar:
        yield Bar(bar, bar.add_task(description, total=total))
