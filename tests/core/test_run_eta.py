"""Issue 20, progress: the run's overall ETA (``run 0:01:40  ETA ~3m``), from work units
planned up front and the rates measured as the run goes (a fake clock), within 80 columns."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from molstrata.core import progress
from molstrata.core.eta import RunEta, Segment, format_eta, load_rates, save_rates


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _plan() -> list[Segment]:
    return [Segment("embedding", 100), Segment("probing", 10), Segment("selecting", 10)]


def test_unknown_until_every_phase_has_a_rate_then_remaining_over_measured_rates():
    clock = Clock()
    eta = RunEta(_plan(), clock=clock)
    assert eta.seconds_left() is None and eta.text() == "ETA ?"
    eta.enter("embedding")
    eta.bar_opened(50)  # 50 of the 100 molecules are not cached
    clock.now = 20.0
    eta.advance(10)
    assert eta.seconds_left() is None  # probing and selecting: no rate yet
    clock.now = 100.0
    eta.advance(40)
    eta.leave()
    eta.enter("probing")
    eta.bar_opened(50)  # 10 jobs x 5 layers
    eta.skip(10)  # read back: free
    clock.now = 120.0
    eta.advance(10)
    assert eta.seconds_left() is None  # selecting still unknown
    assert eta.text() == "ETA >1m" and eta.lower_bound() == pytest.approx(60.0)  # probing's part
    with_prior = RunEta(eta.segments, priors={"selecting": 3.0}, clock=clock)
    with_prior._at, with_prior._open = eta._at, eta._open
    # probing: 20 s for 10 steps, 30 steps left -> 60 s; selecting: 10 jobs x 3 s
    assert with_prior.seconds_left() == pytest.approx(60.0 + 30.0)
    assert with_prior.text() == "ETA ~2m"


def test_a_later_segment_of_a_phase_uses_the_rate_measured_in_this_run():
    clock = Clock()
    segments = [Segment("embedding", 100), Segment("probing", 10), Segment("embedding", 100),
                Segment("probing", 10)]
    eta = RunEta(segments, clock=clock)
    eta.enter("embedding")
    eta.bar_opened(50)
    clock.now = 100.0
    eta.advance(50)  # 2 s per embedded molecule
    eta.leave()
    eta.enter("probing")
    eta.bar_opened(40)
    clock.now = 140.0
    eta.advance(20)  # 2 s per step, 20 steps left
    # now: 40 s of probing left; then 100 molecules x 2 s; then 10 jobs at the running
    # segment's 40 s per half of its 10 jobs
    assert eta.seconds_left() == pytest.approx(40.0 + 200.0 + 80.0)
    clock.now = 180.0
    eta.advance(20)
    eta.leave()
    assert eta.rate("probing") == pytest.approx(8.0)  # 80 s over 10 jobs
    assert eta.seconds_left() == pytest.approx(200.0 + 80.0)
    assert eta.measured() == pytest.approx({"embedding": 2.0, "probing": 8.0})


def test_priors_give_an_eta_before_anything_ran_and_resumed_work_is_free():
    clock = Clock()
    eta = RunEta(_plan(), priors={"embedding": 0.5, "probing": 4.0, "selecting": 1.0}, clock=clock)
    assert eta.seconds_left() == pytest.approx(100 * 0.5 + 10 * 4.0 + 10 * 1.0)
    eta.enter("embedding")
    eta.leave()  # everything was cached: no bar, no time
    eta.enter("probing")
    eta.bar_opened(50)
    eta.skip(25)  # half read back
    assert eta.seconds_left() == pytest.approx(10 * 4.0 / 2 + 10 * 1.0)


@pytest.mark.parametrize(("seconds", "text"), [(None, "?"), (12, "<1m"), (150, "~2m"), (3900, "~1h05m")])
def test_format(seconds, text):
    assert format_eta(seconds) == text


def test_rates_are_saved_per_key_and_merged(tmp_path):
    assert load_rates(tmp_path, "k") == {}
    save_rates(tmp_path, "k", {"probing": 2.0})
    save_rates(tmp_path, "k", {"selecting": 1.5})
    save_rates(tmp_path, "other", {"probing": 9.0})
    assert load_rates(tmp_path, "k") == {"probing": 2.0, "selecting": 1.5}
    (tmp_path / "eta_rates.json").write_text("{not json")
    assert load_rates(tmp_path, "k") == {}


def test_bars_of_a_run_show_its_eta_within_80_columns(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(progress, "stderr_console",
                        lambda: Console(file=buffer, width=80, force_terminal=True))
    clock = Clock()
    eta = RunEta([Segment("embedding", 31234), Segment("probing", 110)],
                 priors={"probing": 60.0}, clock=clock)
    with progress.run_eta(eta), progress.phase(1, 1, "embedding"):  # 1/1: the run ends here
        with progress.progress("embedding with a-very-long-encoder-name", 31234) as bar:
            clock.now = 90.0
            bar.advance(12345, description="embedding: chunk 3 · cyp2c9_substrate_carbonmangels")
            # 90 s for 12345 molecules: 18889 more ~ 138 s; then 110 jobs x 60 s
            assert eta.seconds_left() == pytest.approx(90 / 12345 * 18889 + 6600)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    lines = [line for line in re.split(r"[\r\n]", text) if line.strip()]
    assert lines and all(len(line) <= 80 for line in lines), lines
    assert any("12345/31234" in line and "ETA ~1h52m" in line for line in lines), lines
