"""A damaged ``report.md`` in an analysis run folder is reported and rewritten."""

from __future__ import annotations

import pytest

from molstrata.analysis.outputs import _write_section


def test_undecodable_report_is_rewritten_with_a_warning(tmp_path):
    report = tmp_path / "report.md"
    report.write_bytes(b"\xff\xfe\x00garbage")
    section = "<!-- analysis -->\nbody\n<!-- /analysis -->"
    with pytest.warns(UserWarning, match="report .*damaged.*recomputing"):
        _write_section(report, section)
    text = report.read_text()
    assert text.startswith("# molstrata report") and "body" in text
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temporary file left
