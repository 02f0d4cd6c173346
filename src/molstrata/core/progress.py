"""The one progress bar of molstrata: rich, on stderr, with elapsed time and ETA.

Every long loop (embedding, probing, selection, finetuning, conformers, analyses, executor
maps) reports through :func:`progress`; ``show=False`` gives a bar whose methods do nothing,
so callers never branch on it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from molstrata.core.eta import RunEta

__all__ = ["Bar", "phase", "progress", "run_eta", "stderr_console"]

#: widest description; with the bar, counts and times a line fits 80 columns
DESCRIPTION_WIDTH = 30
BAR_WIDTH = 12

#: (index, count, name, start time of phase 1) of the run's current phase, or None
_PHASE: ContextVar[tuple[int, int, str, float] | None] = ContextVar("molstrata_phase", default=None)
#: when the current run's phase 1 began (kept after phase 1 ends, for the later phases)
_RUN_START: ContextVar[float | None] = ContextVar("molstrata_run_start", default=None)
#: the overall ETA of the current run (:mod:`molstrata.core.eta`), or None
_ETA: ContextVar[RunEta | None] = ContextVar("molstrata_run_eta", default=None)


@contextmanager
def run_eta(eta: RunEta) -> Iterator[RunEta]:
    """Inside, :func:`phase` blocks and their bars feed ``eta``, and every bar opened in a
    phase shows the run's ETA (``run 0:03:10  ETA ~12m``) instead of its own."""
    token = _ETA.set(eta)
    try:
        yield eta
    finally:
        _ETA.reset(token)


@contextmanager
def phase(index: int, count: int, name: str) -> Iterator[None]:
    """Label the bars opened inside as phase ``index`` of ``count`` (``2/3 probing: ...``);
    their time column adds the run's total elapsed time since phase 1 began."""
    if index <= 1 or _RUN_START.get() is None:
        _RUN_START.set(time.monotonic())
    start = _RUN_START.get()
    token = _PHASE.set((index, count, name, start))
    eta = _ETA.get()
    if eta is not None:
        eta.enter(name)
    try:
        yield
    finally:
        _PHASE.reset(token)
        if eta is not None:
            eta.leave()
        if index >= count:  # the run's last phase: the next phase 2 is another run's
            _RUN_START.set(None)


def _label(description: str) -> str:
    """``description`` with the current phase in front, cut to :data:`DESCRIPTION_WIDTH`."""
    current = _PHASE.get()
    if current is not None:
        index, count, name, _ = current
        rest = description[len(name):].lstrip(" :") if description.lower().startswith(name) else description
        description = f"{index}/{count} {name}" + (f": {rest}" if rest else "")
    if len(description) > DESCRIPTION_WIDTH:
        description = description[: DESCRIPTION_WIDTH - 1] + "…"
    return description.ljust(DESCRIPTION_WIDTH)


def stderr_console() -> Any:
    """A :class:`rich.console.Console` writing to stderr (stdout stays for results)."""
    from rich.console import Console

    return Console(stderr=True)


class Bar:
    """One task of a rich progress display (or nothing when ``progress`` is None)."""

    def __init__(self, progress: Any = None, task: Any = None, eta: RunEta | None = None) -> None:
        self._progress, self._task, self._eta = progress, task, eta

    def __bool__(self) -> bool:
        return self._progress is not None

    def advance(self, n: float = 1, description: str | None = None) -> None:
        """Advance by ``n`` steps; optionally replace the description."""
        if self._progress is not None:
            kw = {"description": _label(description)} if description else {}
            if self._eta is not None:
                self._eta.advance(n)
            self._progress.update(self._task, advance=n, **kw)

    def skip(self, n: float) -> None:
        """Advance by ``n`` steps that were read back, not computed (the run's ETA does not
        count them as work done)."""
        if self._progress is not None:
            if self._eta is not None:
                self._eta.skip(n)
            self._progress.update(self._task, advance=n)

    def describe(self, description: str) -> None:
        """Replace the description without advancing."""
        if self._progress is not None:
            self._progress.update(self._task, description=_label(description))


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

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(bar_width=BAR_WIDTH),
                          MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                          TimeRemainingColumn()]
    current, eta = _PHASE.get(), _ETA.get()
    if current is not None:  # the whole run's time so far, across its phases
        columns[3] = _run_elapsed_column(current[3])
    if current is not None and eta is not None:  # and the whole run's time left
        columns[4:] = [_run_eta_column(eta)]
        eta.bar_opened(total or 0)
    else:
        eta = None
    bar = Progress(*columns, console=stderr_console(), transient=transient)
    with bar:
        yield Bar(bar, bar.add_task(_label(description), total=total), eta)


def _run_elapsed_column(started: float) -> Any:
    """A progress column: the run's elapsed time since phase 1 began (``run 0:01:23``)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RunElapsed(ProgressColumn):
        def render(self, task: Any) -> Text:
            seconds = int(time.monotonic() - started)
            return Text(f"run {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
                        style="progress.elapsed")

    return RunElapsed()


def _run_eta_column(eta: RunEta) -> Any:
    """A progress column: the run's remaining time (``ETA ~12m``, ``ETA ?``)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RunRemaining(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(eta.text(), style="progress.remaining")

    return RunRemaining()
