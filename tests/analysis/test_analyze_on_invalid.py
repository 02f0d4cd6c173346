"""``molstrata analyze --on-invalid``: mask analyses the valid molecules and lists the others
in notes/molecules.csv; raise (the default) stops with the CLI flag named in the error."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from molstrata.cli import app
from molstrata.cli._options import cli_message
from molstrata.core.errors import InvalidSmilesError

BAD = ["not_a_smiles", "C1CC"]


def _csv(tmp_path, small_smiles):
    path = tmp_path / "mols.csv"
    smiles = [*small_smiles[:30], BAD[0], *small_smiles[30:40], BAD[1]]
    pd.DataFrame({"smiles": smiles}).to_csv(path, index=False)
    return path


def test_analyze_on_invalid_mask(toy_encoder, small_smiles, tmp_path, monkeypatch):
    import molstrata.encoders

    monkeypatch.setattr(molstrata.encoders, "load_encoder", lambda name, **kw: toy_encoder)

    monkeypatch.setattr("molstrata.encoders.registry.check_encoder_ref", lambda name: None)  # a test-only name
    path, out = _csv(tmp_path, small_smiles), tmp_path / "run"
    args = ["analyze", "-e", "toy", "-i", str(path), "-o", str(out), "--metrics", "dataset_entropy,effective_rank",
            "--max-molecules", "40"]
    raised = CliRunner().invoke(app, args)
    assert isinstance(raised.exception, InvalidSmilesError)
    message = cli_message(str(raised.exception))
    assert "--on-invalid mask" in message and "on_invalid=" not in message
    result = CliRunner().invoke(app, [*args, "--on-invalid", "mask"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    notes = pd.read_csv(out / "notes" / "molecules.csv")
    assert {"task", "Drug_ID", "SMILES", "reason"} <= set(notes.columns)
    assert notes["SMILES"].tolist() == BAD
    assert notes["Drug_ID"].tolist() == [30, 41]  # 0-based rows of the CSV
    assert notes["reason"].str.startswith("invalid").all()
    assert "2 invalid molecule(s) left out" in result.output
