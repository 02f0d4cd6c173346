"""``molstrata analyze`` keys its run folder: it never shares a probe's folder silently,
refuses another analysis without --overwrite, and notices changed inputs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from molstrata.cli import app
from molstrata.core.errors import ConfigError

FAST = ["--metrics", "dataset_entropy,cka_final", "--max-molecules", 20]


@pytest.fixture()
def smiles_csv(tmp_path, small_smiles):
    path = tmp_path / "mols.csv"
    pd.DataFrame({"SMILES": small_smiles[:30]}).to_csv(path, index=False)
    return path


def _analyze(encoder_dir, csv, out, *extra):
    result = CliRunner().invoke(app, ["analyze", "--encoder", str(encoder_dir), "--input", str(csv),
                                      "--out", str(out), *map(str, FAST), *map(str, extra)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def test_analyze_beside_a_probe_run_leaves_it_alone(tiny_roberta_dir, smiles_csv, data_dir, tmp_path):
    from molstrata.runs import sweep

    out = tmp_path / "probe"
    sweep([str(tiny_roberta_dir)], "caco2_wang", [1], out=out, data_dir=data_dir, report=False,
          progress=False, strategy="valid")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    _analyze(tiny_roberta_dir, smiles_csv, out)  # its own run, in out/analyze/
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    assert json.loads((out / "analyze" / "run.json").read_text())["command"] == "analyze"


def test_analyze_run_is_keyed(tiny_roberta_dir, smiles_csv, tmp_path):
    out = tmp_path / "run"
    _analyze(tiny_roberta_dir, smiles_csv, out)
    record = json.loads((out / "run.json").read_text())
    assert record["command"] == "analyze" and "mols.csv" in record["inputs"]
    with pytest.raises(ConfigError, match="other settings.*seed"):
        _analyze(tiny_roberta_dir, smiles_csv, out, "--seed", 3)
    # the same run on an edited input: recomputed, with a note naming the file
    frame = pd.read_csv(smiles_csv)
    frame.iloc[::-1].to_csv(smiles_csv, index=False)
    again = _analyze(tiny_roberta_dir, smiles_csv, out)
    assert "mols.csv changed" in again.output
    assert json.loads((out / "run.json").read_text())["inputs"] != record["inputs"]
    _analyze(tiny_roberta_dir, smiles_csv, out, "--seed", 3, "--overwrite")
    assert json.loads((out / "run.json").read_text())["settings"]["seed"] == 3


def _shift_labels(path) -> None:
    frame = pd.read_csv(path)
    frame["Y"] = frame["Y"] + 1.0
    frame.to_csv(path, index=False)


def test_task_mode_is_keyed_on_train_and_valid_only(tiny_roberta_dir, data_dir, tmp_path):
    """Task mode analyses train+valid molecules only: a changed test.csv is not a changed input."""
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(data_dir / "admet_group" / "caco2_wang", copy / "admet_group" / "caco2_wang")
    out = tmp_path / "run"
    args = ["analyze", "--encoder", str(tiny_roberta_dir), "--task", "caco2_wang", "--data-dir",
            str(copy), "--out", str(out), *map(str, FAST)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    record = json.loads((out / "run.json").read_text())
    assert not any(k.endswith("test.csv") for k in record["inputs"])
    folder = copy / "admet_group" / "caco2_wang"
    _shift_labels(folder / "test.csv")
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "changed" not in again.output
    assert json.loads((out / "run.json").read_text())["inputs"] == record["inputs"]
    _shift_labels(folder / "train_val.csv")
    third = CliRunner().invoke(app, args)
    assert third.exit_code == 0, third.output
    assert "train_val.csv changed" in third.output
