"""``build_report`` works on any run folder (probe, analyze, finetune, combined), writes a
self-contained ``report.html``, records the finish time and says each note once (#20, 4)."""

from __future__ import annotations

import datetime as dt
import os
import re

import numpy as np
import pandas as pd
import pytest
from run_tables import write_run
from typer.testing import CliRunner

from molstrata.cli import app
from molstrata.core.errors import DataNotFoundError
from molstrata.report import build_report


def _layer_metrics(folder, encoder="enc"):
    rows = [(encoder, k, k / 2, m, v) for k in range(3)
            for m, v in (("effective_rank", 10.0 + k), ("dataset_entropy", 0.5 - 0.1 * k))]
    pd.DataFrame(rows, columns=["encoder", "layer", "relative_depth", "metric", "value"]).to_csv(
        folder / "layer_metrics.csv", index=False)


def _finetune(folder):
    from molstrata.finetune import FinetuneResult
    from molstrata.finetune.outputs import write_outputs

    results = {}
    for (k, s), (v, t) in {(2, 1): (0.5, 0.4), (3, 1): (0.45, 0.42), (4, 1): (0.48, 0.5),
                           (2, 2): (0.47, 0.44), (3, 2): (0.49, 0.41), (4, 2): (0.46, 0.52)}.items():
        hist = pd.DataFrame({"lr": [1e-4], "epoch": [1], "train_loss": [1.0], "valid_score": [v]})
        results[(k, s)] = FinetuneResult("t", "mae", "regression", k, s, hist, 1e-4, 1, v, t, np.array([1.0]))
    frozen = pd.DataFrame([{"encoder": "e", "task": "t", "metric": "mae", "layer": k, "split": sp,
                            "score": 0.6 + 0.01 * k, "seed": s} for k in range(5) for sp in ("valid", "test") for s in (1, 2)])
    split = type("S", (), {"test": pd.DataFrame({"Drug_ID": ["a"], "Drug": ["C"], "Y": [1.0]})})()
    return write_outputs(folder, encoder="e", task="t", num_layers=4, results=results, frozen=frozen,
                         splits={1: split, 2: split})


def test_analyze_folder(tmp_path):
    _layer_metrics(tmp_path)
    text = build_report(tmp_path).read_text()
    assert "Information flow across depth" in text and "effective_rank" in text
    assert (tmp_path / "figures" / "layer_metrics.png").stat().st_size > 2000


def test_probe_folder_with_analysis_keeps_both(tmp_path):
    write_run(tmp_path, "ensemble")
    _layer_metrics(tmp_path)
    (tmp_path / "report.md").write_text("# molstrata report\n\n<!-- molstrata:analyze:begin -->\n"
                                        "## analysis written by analyze\n<!-- molstrata:analyze:end -->\n")
    text = build_report(tmp_path).read_text()
    assert "## Layer-wise probe: enc" in text and "## analysis written by analyze" in text
    assert text.startswith("# molstrata report: probe + analyze run")


def test_finetune_folder_rebuilds(tmp_path):
    _finetune(tmp_path)
    (tmp_path / "report.md").unlink()
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report.md").read_text()
    assert "Finetuning truncated encoders: e on t" in text and "Depth chosen on validation" in text


def test_finetune_combined_folder(tmp_path):
    from molstrata.finetune.outputs import write_combined

    runs = {"t": _finetune(tmp_path / "t")}
    write_combined(tmp_path, "e", runs)
    text = build_report(tmp_path).read_text()
    assert "Finetuning truncated encoders: e on 1 tasks" in text and "[t](t/report.md)" in text


def test_html_is_self_contained(tmp_path):
    write_run(tmp_path, "ensemble")
    md = build_report(tmp_path).read_text()
    page = (tmp_path / "report.html").read_text()
    n_images = len(re.findall(r"!\[[^\]]*\]\(figures/", md))
    assert n_images >= 4 and page.count('src="data:image/png;base64,') == n_images
    assert 'src="figures/' not in page and "<table>" in page and "<h2>" in page


def test_finish_time_not_start_time(tmp_path):
    write_run(tmp_path, "valid")
    (tmp_path / "config.toml").write_text('[molstrata]\nversion = "0.1.0"\nwritten = "2019-05-05T05:05:05+00:00"\n'
                                          'command = "probe"\n\n[params]\nprobe = "linear"\n')
    stamp = dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp()
    for name in ("probe_results.csv", "summary.csv"):
        os.utime(tmp_path / name, (stamp, stamp))
    text = build_report(tmp_path).read_text()
    assert "run finished 2020-01-02T03:04:05+00:00" in text
    assert "2019-05-05T05:05:05" not in text


def test_each_note_once(tmp_path):
    write_run(tmp_path, "valid")
    note = "enc: 2 input(s) longer than the encoder's maximum length were truncated"
    per_seed = [f"hia_hou seed {s}: 1 test molecule(s) could not be embedded (test rows [3])" for s in range(1, 6)]
    (tmp_path / "notes.txt").write_text("\n".join([note] * 5 + per_seed + ["another note"]) + "\n")
    text = build_report(tmp_path).read_text()
    assert text.count(note) == 1 and f"{note} (×5)" in text and "another note" in text
    # the same note for every seed: said once, naming the seeds
    assert text.count("test molecule(s) could not be embedded") == 1
    assert "- hia_hou seeds 1, 2, 3, 4, 5: 1 test molecule(s) could not be embedded (test rows [3])" in text


def test_not_a_run_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match="no such run folder"):
        build_report(tmp_path / "missing")
    with pytest.raises(DataNotFoundError, match="probe_results.csv, finetune_results.csv or layer_metrics.csv"):
        build_report(tmp_path)


def test_report_out_leaves_the_run_folder_untouched(tmp_path):
    """``molstrata report RUN -o OUT`` (#20, 5: -o on every command) writes the report into
    OUT, drawn from RUN's tables, and changes nothing in RUN."""
    run, out = tmp_path / "run", tmp_path / "elsewhere"
    run.mkdir()
    write_run(run, "ensemble")
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    result = CliRunner().invoke(app, ["report", str(run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    after = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert after == before
    text = (out / "report.md").read_text()
    assert "## Layer-wise probe: enc" in text
    assert (out / "report.html").is_file() and list((out / "figures").glob("*.png"))
    assert (out / "summary.csv").read_bytes() == (run / "summary.csv").read_bytes()
