"""``molstrata pretrain smiles|graph`` from the command line (tiny settings)."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from molstrata.cli import app

runner = CliRunner()


def test_cli_pretrain_smiles_tiny_then_resume(small_corpus_dir, data_dir, tmp_path):
    out = tmp_path / "run"
    args = ["pretrain", "smiles", "--corpus", str(small_corpus_dir), "--out", str(out),
            "--data-dir", str(data_dir), "--steps", "2", "--batch-size", "4", "--layers", "1",
            "--hidden", "16", "--heads", "2", "--intermediate", "32", "--eval-every", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["step"] == 2
    # a finished run resumed is a no-op that still reports
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "summary.json").read_text())["step"] == 2


def test_cli_pretrain_graph_tiny(small_corpus_dir, data_dir, tmp_path):
    out = tmp_path / "g"
    # stats need more molecules than the 60 of the small corpus allow by default (2000)
    result = runner.invoke(app, ["pretrain", "graph", "--corpus", str(small_corpus_dir),
                                 "--out", str(out), "--data-dir", str(data_dir), "--steps", "1"])
    assert result.exit_code != 0
    assert "stats_molecules" in str(result.exception)
    result = runner.invoke(app, ["pretrain", "graph", "--corpus", str(small_corpus_dir),
                                 "--out", str(out), "--data-dir", str(data_dir), "--steps", "2",
                                 "--batch-size", "4", "--layers", "1", "--hidden", "16",
                                 "--stats-molecules", "10", "--eval-every", "1"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 2 and summary["objective"] == "rdkit-descriptor-regression"


def test_cli_missing_corpus_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "molstrata.cli", "pretrain", "smiles", "--corpus",
         str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "nope.txt" in proc.stderr and "Traceback" not in proc.stderr
