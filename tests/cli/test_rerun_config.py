"""A run can be rerun from its folder: ``config.toml`` records the full command line, every
option and the package versions; ``--config RUN_DIR/config.toml`` reruns it; commands sharing
a folder never overwrite each other's config."""

from __future__ import annotations

import sys
import tomllib

import pytest
from typer.testing import CliRunner

from molstrata.cli import app

TABLES = ("probe_results.csv", "summary.csv", "leaderboard.json", "probe_params.csv",
          "selection.csv", "predictions/hia_hou_seed1.csv", "predictions/hia_hou_seed2.csv")


def _invoke(*args):
    return CliRunner().invoke(app, [*map(str, args)])


def _toml(path):
    with open(path, "rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def probe_run(tiny_roberta_dir, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("rerun") / "first"
    res = _invoke("probe", "-e", tiny_roberta_dir, "--tasks", "hia_hou", "--seeds", "1,2",
                  "--selection", "ensemble", "--cv-folds", "3", "--data-dir", data_dir,
                  "--out", out, "--no-report")
    assert res.exit_code == 0, res.output + repr(res.exception)
    return out


def test_config_records_command_line_and_versions(probe_run, tiny_roberta_dir):
    cfg = _toml(probe_run / "config.toml")
    line = cfg["invocation"]["command_line"]
    assert line.startswith("molstrata probe ") and "--tasks hia_hou" in line
    assert f"--encoder {tiny_roberta_dir}" in line and "--cv-folds 3" in line
    assert cfg["params"]["command_line"] == line
    import sklearn
    import torch

    versions = cfg["versions"]
    assert versions["torch"] == torch.__version__ and versions["scikit-learn"] == sklearn.__version__
    assert {"molstrata", "transformers", "rdkit"} <= set(versions)


def test_rerun_from_config_gives_identical_tables(probe_run):
    again = probe_run.parent / "again"
    res = _invoke("probe", "--config", probe_run / "config.toml", "--out", again)
    assert res.exit_code == 0, res.output + repr(res.exception)
    for name in TABLES:
        assert (again / name).read_bytes() == (probe_run / name).read_bytes(), name
    line = _toml(again / "config.toml")["invocation"]["command_line"]
    assert f"--out {again}" in line and "--cv-folds 3" in line and "--selection ensemble" in line


def test_config_of_another_command_is_refused(probe_run, tiny_roberta_dir, monkeypatch, capsys):
    from molstrata.cli import main

    monkeypatch.setattr(sys, "argv", ["molstrata", "analyze", "--config", str(probe_run / "config.toml")])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err
    assert "`molstrata probe`" in err and "molstrata probe --config" in " ".join(err.split())


def test_analyze_into_a_probe_folder_keeps_both_configs(probe_run, tiny_roberta_dir, data_dir):
    before = (probe_run / "config.toml").read_bytes()
    res = _invoke("analyze", "-e", tiny_roberta_dir, "--task", "hia_hou", "--data-dir", data_dir,
                  "--metrics", "dataset_entropy", "--max-molecules", "60", "--out", probe_run)
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert (probe_run / "config.toml").read_bytes() == before
    assert _toml(probe_run / "analyze" / "config.toml")["molstrata"]["command"] == "analyze"
    assert (probe_run / "analyze" / "layer_metrics.csv").is_file()
    res = _invoke("report", probe_run)
    assert res.exit_code == 0, res.output + repr(res.exception)
    report = (probe_run / "report.md").read_text()
    assert report.startswith("# molstrata report: probe + analyze/ run")
    assert "(analyze/report.md)" in report and (probe_run / "analyze" / "report.md").is_file()
    # and the analyze run reruns from its own config
    res = _invoke("analyze", "--config", probe_run / "analyze", "--out", probe_run.parent / "an2")
    assert res.exit_code == 0, res.output + repr(res.exception)
    a = (probe_run / "analyze" / "layer_metrics.csv").read_bytes()
    assert (probe_run.parent / "an2" / "layer_metrics.csv").read_bytes() == a


def test_embed_reruns_from_its_folder(tiny_roberta_dir, tmp_path, monkeypatch):
    import pandas as pd

    path = tmp_path / "mols.csv"
    pd.DataFrame({"smi": ["CCO", "c1ccccc1O", "CC(=O)O", "CCN(CC)CC"]}).to_csv(path, index=False)
    first, again = tmp_path / "e1", tmp_path / "e2"
    monkeypatch.chdir(tmp_path)  # relative paths, as typed
    res = _invoke("embed", "-e", tiny_roberta_dir, "--input", "mols.csv", "--smiles-col", "smi",
                  "--out", "e1")
    assert res.exit_code == 0, res.output + repr(res.exception)
    monkeypatch.chdir(tmp_path.parent)  # the recorded command reruns from anywhere
    res = _invoke("embed", "--config", first / "config.toml")  # into its own folder
    assert res.exit_code == 0, res.output + repr(res.exception)
    res = _invoke("embed", "--config", first, "--out", again)  # the folder: its config.toml
    assert res.exit_code == 0, res.output + repr(res.exception)
    for name in ("layer_000.npy", "layer_003.npy", "molecules.csv"):
        assert (again / name).read_bytes() == (first / name).read_bytes(), name
    assert "--smiles-col smi" in _toml(again / "config.toml")["invocation"]["command_line"]
