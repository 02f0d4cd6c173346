"""The overall ETA of a run (``run 0:03:10  ETA ~12m`` in every progress bar of a probe run).

A run is planned up front as an ordered list of segments, one per phase entry (``embedding``,
``probing``, ``selecting`` for each encoder, then ``baseline``), each with a count of planned
units: the molecules to embed, or the (task, seed) jobs of the other phases. The cost model:

- a segment that is running, once a unit of its progress bar is done, takes the time it has
  taken so far per unit done, times the units left (resumed units, :meth:`RunEta.skip`,
  cost nothing and count for neither);
- a segment not started (or with nothing done yet) takes its planned units times its phase's
  seconds per planned unit: measured by an earlier segment of the same phase in this run
  (another encoder's), else the rate the last run with the same key saved
  (:func:`load_rates`, under the cache folder), else unknown;
- the run's ETA is the sum over segments; while a segment's cost is unknown it is shown as a
  lower bound, the known part (``ETA >5m``), or ``ETA ?`` below a minute.

Nothing here reads a clock but ``clock`` (tests pass a fake one).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RunEta", "Segment", "format_eta", "load_rates", "save_rates"]

#: the file of saved rates under the cache folder (seconds per planned unit, per key and phase)
RATES_FILE = "eta_rates.json"


@dataclass
class Segment:
    """One phase entry of a run: ``planned`` units (molecules or jobs); once its progress bar
    opens, ``total`` bar steps of which ``skipped`` were free and ``worked`` done."""

    phase: str
    planned: float
    total: float | None = None
    skipped: float = 0.0
    worked: float = 0.0
    started: float | None = None
    seconds: float = 0.0  # time spent in it once left
    done: bool = False


@dataclass
class RunEta:
    """The remaining time of a run of ``segments`` (see the module docstring).

    ``priors``: seconds per planned unit of each phase, from earlier runs;
    ``bar_units``: phases whose planned units become the bar's total when it opens
    (``embedding``: only the molecules missing from the cache are embedded).
    """

    segments: list[Segment]
    priors: Mapping[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    bar_units: Sequence[str] = ("embedding",)
    _at: int = -1  # index of the running segment, -1 before the first
    _open: bool = False  # inside a planned segment (an unplanned phase is not timed)

    def enter(self, phase: str) -> None:
        """The next segment named ``phase`` starts (segments skipped over count as done)."""
        for i in range(self._at + 1, len(self.segments)):
            if self.segments[i].phase == phase:
                for seg in self.segments[self._at + 1:i]:
                    seg.done = True
                self._at, self._open = i, True
                self.segments[i].started = self.clock()
                return
        self._open = False

    def leave(self) -> None:
        """The running segment is finished."""
        seg = self._current()
        if seg is not None and seg.started is not None and self._open:
            seg.seconds, seg.done = self.clock() - seg.started, True
        self._open = False

    def bar_opened(self, total: float) -> None:
        """The running segment's progress bar has ``total`` steps (a second bar adds to it)."""
        seg = self._current()
        if seg is not None:
            seg.total = (seg.total or 0.0) + float(total)
            if seg.phase in self.bar_units:
                seg.planned = seg.total

    def advance(self, n: float) -> None:
        """``n`` steps of the running segment's bar were computed."""
        seg = self._current()
        if seg is not None:
            seg.worked += n

    def skip(self, n: float) -> None:
        """``n`` steps of the running segment's bar were read back, not computed."""
        seg = self._current()
        if seg is not None:
            seg.skipped += n

    def rate(self, phase: str) -> float | None:
        """Seconds per planned unit of ``phase``: measured in this run (its finished segments
        and the running one), else the prior, else None."""
        seconds = units = 0.0
        running = self._current()
        for seg in self.segments:
            work = _work_fraction(seg)
            if seg.phase != phase or work <= 0:
                continue
            if seg.done:
                seconds, units = seconds + seg.seconds, units + seg.planned * work
            elif seg is running and seg.started is not None:
                seconds, units = seconds + self.clock() - seg.started, units + seg.planned * work
        if units > 0:
            return seconds / units
        return self.priors.get(phase)

    def seconds_left(self) -> float | None:
        """The run's remaining seconds, or None while a segment's cost is unknown."""
        known, complete = self._left()
        return known if complete else None

    def lower_bound(self) -> float:
        """The remaining seconds of the segments whose cost is known (all of the run's when
        :meth:`seconds_left` is not None)."""
        return self._left()[0]

    def _left(self) -> tuple[float, bool]:
        total, complete = 0.0, True
        for i, seg in enumerate(self.segments):
            if seg.done or i < self._at:
                continue
            left = self._segment_left(seg, running=i == self._at)
            if left is None:
                complete = False
            else:
                total += left
        return total, complete

    def _segment_left(self, seg: Segment, *, running: bool) -> float | None:
        todo = (seg.total - seg.skipped) if seg.total is not None else None
        if running and seg.started is not None and seg.worked > 0 and todo:
            spent = self.clock() - seg.started
            return spent / seg.worked * max(0.0, todo - seg.worked)
        rate = self.rate(seg.phase)
        if rate is None:
            return None
        if todo is not None and seg.total:  # resumed steps cost nothing
            left = seg.planned * rate * todo / seg.total
        else:
            left = seg.planned * rate
        if running and seg.started is not None:
            left = max(0.0, left - (self.clock() - seg.started))
        return left

    def measured(self) -> dict[str, float]:
        """Seconds per planned unit of each phase measured in this run (for :func:`save_rates`)."""
        saved: dict[str, float] = {}
        for seg in self.segments:
            work = _work_fraction(seg)
            if seg.done and work > 0:
                seconds, units = saved.get(seg.phase + " s", 0.0), saved.get(seg.phase + " n", 0.0)
                saved[seg.phase + " s"], saved[seg.phase + " n"] = seconds + seg.seconds, units + seg.planned * work
        return {k[:-2]: saved[k] / saved[k[:-2] + " n"] for k in saved if k.endswith(" s")}

    def text(self) -> str:
        """``ETA ~12m``, ``ETA <1m``; while a segment's cost is unknown, ``ETA >5m`` (the
        known part, when it is a minute or more) or ``ETA ?``."""
        known, complete = self._left()
        if complete:
            return "ETA " + format_eta(known)
        return f"ETA >{int(known // 60)}m" if known >= 60 else "ETA ?"

    def _current(self) -> Segment | None:
        return self.segments[self._at] if self._open else None


def _work_fraction(seg: Segment) -> float:
    """The part of a segment's planned units that was computed (not read back)."""
    if not seg.total:
        return 0.0
    return min(seg.worked, seg.total - seg.skipped) / seg.total


def format_eta(seconds: float | None) -> str:
    """``?`` (unknown), ``<1m``, ``~12m``, ``~1h05m``."""
    if seconds is None:
        return "?"
    minutes = int(round(seconds / 60))
    if minutes < 1:
        return "<1m"
    return f"~{minutes}m" if minutes < 60 else f"~{minutes // 60}h{minutes % 60:02d}m"


def load_rates(folder: Path, key: str) -> dict[str, float]:
    """The rates saved under ``key`` in ``folder/eta_rates.json`` ({} when none or unreadable)."""
    try:
        saved = json.loads((folder / RATES_FILE).read_text()).get(key, {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: float(v) for k, v in saved.items() if isinstance(v, int | float) and v >= 0}


def save_rates(folder: Path, key: str, rates: Mapping[str, float]) -> None:
    """Merge ``rates`` under ``key`` into ``folder/eta_rates.json`` (a failure is ignored:
    the ETA is a convenience)."""
    from molstrata.core.files import atomic_write

    path = folder / RATES_FILE
    try:
        table = json.loads(path.read_text()) if path.is_file() else {}
        if not isinstance(table, dict):
            table = {}
        table[key] = {**table.get(key, {}), **{k: round(v, 6) for k, v in rates.items()}}
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(table, indent=1, sort_keys=True), cache=False)
    except (OSError, ValueError, AttributeError):
        return
