"""Issue 20, report: every text of every report figure lies inside the saved image (the
depth curves' title and the depth histogram's axis label were cut at the edges)."""

from __future__ import annotations

import matplotlib.figure
import matplotlib.text
import pytest
from run_tables import write_run

from molstrata.report import build_report


@pytest.mark.parametrize("mode", ["valid", "ensemble"])
def test_no_text_cut_at_the_edge_of_a_figure(tmp_path, mode, monkeypatch):
    cut: list[tuple[str, str]] = []
    original = matplotlib.figure.Figure.savefig

    def savefig(self, path, *args, **kwargs):
        if kwargs.get("bbox_inches") != "tight":  # a tight box grows to hold every text
            self.canvas.draw()
            renderer = self.canvas.get_renderer()
            frame = self.bbox
            ticks = {id(t) for ax in self.axes for axis in (ax.xaxis, ax.yaxis)
                     for t in axis.get_ticklabels(minor=False) + axis.get_ticklabels(minor=True)}
            for text in self.findobj(matplotlib.text.Text):  # titles, labels, legends, notes
                if text.get_visible() and text.get_text().strip() and id(text) not in ticks:
                    box = text.get_window_extent(renderer)
                    if box.x0 < frame.x0 - 1 or box.x1 > frame.x1 + 1 or box.y0 < frame.y0 - 1 \
                            or box.y1 > frame.y1 + 1:
                        cut.append((str(path).rsplit("/", 1)[-1], text.get_text()))
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    build_report(write_run(tmp_path, mode))
    assert not cut, cut
