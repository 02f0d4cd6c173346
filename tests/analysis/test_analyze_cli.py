"""``molstrata analyze`` through the real Typer app, on tiny local models."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from molstrata.cli import app
from molstrata.core.config import load_config


@pytest.fixture()
def smiles_csv(tmp_path, small_smiles):
    path = tmp_path / "mols.csv"
    pd.DataFrame({"id": range(30), "SMILES": small_smiles[:30]}).to_csv(path, index=False)
    return path


def _run(*args):
    result = CliRunner().invoke(app, ["analyze", *map(str, args)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_cli_on_a_tiny_hf_roberta(tiny_roberta_dir, smiles_csv, tmp_path):
    out = tmp_path / "run"
    result = _run("--encoder", tiny_roberta_dir, "--input", smiles_csv, "--out", out,
                  "--max-molecules", 25, "--aug-molecules", 12, "--n-augmentations", 3,
                  "--token-molecules", 10, "--seed", 1)
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(out / "layer_metrics.csv")
    assert list(metrics.columns) == ["encoder", "layer", "relative_depth", "metric", "value"]
    assert sorted(metrics["layer"].unique()) == [0, 1, 2, 3]
    assert metrics.groupby("metric").size().eq(4).all()
    assert metrics["relative_depth"].between(0, 1).all()
    lidar = metrics[metrics["metric"] == "lidar"]["value"]
    assert lidar.notna().all()  # a sequence model sees randomised SMILES as different inputs
    cka = pd.read_csv(out / "cka.csv")
    assert len(cka) == 16 and cka["cka"].between(-1e-9, 1 + 1e-9).all()
    for png in ("layer_metrics.png", "cka.png"):
        data = (out / "figures" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    report = (out / "report.md").read_text()
    assert "## Information flow across depth" in report and "Recommended layer" in report
    cfg = load_config(out)
    assert cfg["molstrata"]["command"] == "analyze"
    assert cfg["params"]["max_molecules"] == 25 and cfg["params"]["seed"] == 1
    # a rerun replaces the section instead of appending a second one
    _run("--encoder", tiny_roberta_dir, "--input", smiles_csv, "--out", out,
         "--max-molecules", 25, "--metrics", "dataset_entropy,cka_final", "--overwrite")
    assert (out / "report.md").read_text().count("## Information flow across depth") == 1


def test_cli_with_probe_results_adds_correlation_and_regret(toy_encoder, smiles_csv, tmp_path, monkeypatch):
    import molstrata.encoders

    monkeypatch.setattr(molstrata.encoders, "load_encoder", lambda name, **kw: toy_encoder)

    monkeypatch.setattr("molstrata.encoders.registry.check_encoder_ref", lambda name: None)  # a test-only name
    rows = [("toy-char", "caco2_wang", "mae", k, s, split, 1.0 - 0.1 * k + 0.01 * s)
            for s in (1, 2) for k in range(4) for split in ("valid", "test")]
    probes = tmp_path / "probe_results.csv"
    pd.DataFrame(rows, columns=["encoder", "task", "metric", "layer", "seed", "split", "score"]).to_csv(probes, index=False)
    out = tmp_path / "run"
    result = _run("--encoder", "toy", "--input", smiles_csv, "--out", out, "--probe-results", probes,
                  "--metrics", "dataset_entropy,effective_rank,cka_final")
    assert result.exit_code == 0, result.output
    corr = pd.read_csv(out / "metric_probe_correlation.csv")
    assert set(corr["metric"]) == {"dataset_entropy", "effective_rank", "cka_final"}
    # cka_final rises with depth by construction of CKA (1 at the end) and so does the
    # oriented validation score (MAE falls with depth)
    assert corr.set_index("metric").loc["cka_final", "spearman"] > 0.9
    regret = pd.read_csv(out / "recommendation_regret.csv")
    assert regret.loc[0, "final_layer"] == 3 and regret.loc[0, "selected_layers"] == "3,3"
    assert "Do the metrics predict the validation probe score?" in (out / "report.md").read_text()


def test_cli_errors_are_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,structure\na,CCO\n")
    proc = subprocess.run(
        [sys.executable, "-m", "molstrata.cli", "analyze", "--encoder", "default", "--input", str(bad),
         "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "no SMILES column" in proc.stderr and "--smiles-col" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_task_reads_train_and_valid_molecules_only(tiny_roberta_dir, data_dir, tmp_path):
    out = tmp_path / "run"
    result = _run("--encoder", tiny_roberta_dir, "--task", "hia_hou", "--data-dir", data_dir,
                  "--out", out, "--max-molecules", 12, "--metrics", "dataset_entropy,cka_final")
    assert result.exit_code == 0, result.output
    mols = pd.read_csv(out / "molecules.csv")
    assert len(mols) == 12 and mols["input_row"].is_monotonic_increasing
    train_val = set(pd.read_csv(data_dir / "admet_group" / "hia_hou" / "train_val.csv")["Drug"])
    test = set(pd.read_csv(data_dir / "admet_group" / "hia_hou" / "test.csv")["Drug"])
    assert set(mols["smiles"]) <= train_val
    assert not set(mols["smiles"]) & (test - train_val)
    assert load_config(out)["params"]["task"] == "hia_hou"
