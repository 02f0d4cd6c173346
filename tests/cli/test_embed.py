"""``molstrata embed`` and ``molstrata encoders`` through the real Typer app."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from molstrata.cli import app
from molstrata.core.config import load_config
from molstrata.core.errors import ConfigError, InvalidSmilesError
from molstrata.embeddings import read_embeddings
from molstrata.encoders import load_encoder

runner = CliRunner()
SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C", "CN1CCC[C@H]1c1cccnc1", "OC(=O)CCl"]


@pytest.fixture()
def csv(tmp_path):
    path = tmp_path / "mols.csv"
    pd.DataFrame({"name": [f"m{i}" for i in range(6)], "SMILES": SMILES}).to_csv(path, index=False)
    return path


def test_embed_input_writes_documented_folder(tiny_roberta_dir, csv, tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["embed", "--encoder", str(tiny_roberta_dir), "--input", str(csv),
                              "--id-col", "name", "--out", str(out), "--batch-size", "4"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_layers"] == 4 and manifest["dims"] == [32] * 4
    assert manifest["pooling"] == "mean" and manifest["n_molecules"] == 6
    assert manifest["invalid_rows"] == [] and manifest["truncated_rows"] == []
    assert manifest["identity"]["weights_sha256"]
    assert manifest["smiles_col"] == "SMILES"
    ref = load_encoder(str(tiny_roberta_dir), device="cpu").embed(SMILES)
    for k in range(4):
        layer = np.load(out / f"layer_{k:03d}.npy")
        assert layer.dtype == np.float32 and layer.shape == (6, 32)
        np.testing.assert_allclose(layer, ref[k], atol=1e-5)
    mols = pd.read_csv(out / "molecules.csv")
    assert mols["id"].tolist() == [f"m{i}" for i in range(6)]
    assert mols["smiles"].tolist() == SMILES
    cfg = load_config(out)
    assert cfg["molstrata"]["command"] == "embed"
    assert cfg["params"]["encoder"] == str(tiny_roberta_dir) and cfg["params"]["max_length"] == 64
    back = read_embeddings(out)
    np.testing.assert_array_equal(back[2], np.load(out / "layer_002.npy"))
    assert back.smiles == tuple(SMILES)


def test_embed_max_layer_and_pooling(tiny_roberta_dir, csv, tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["embed", "-e", str(tiny_roberta_dir), "-i", str(csv), "-o", str(out),
                              "--max-layer", "2", "--pooling", "max"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_layers"] == 3 and manifest["pooling"] == "max"
    full = load_encoder(str(tiny_roberta_dir), device="cpu").embed(SMILES, pooling="max")
    np.testing.assert_allclose(np.load(out / "layer_002.npy"), full[2], atol=1e-5)


def test_embed_invalid_rows_raise_or_mask(tiny_roberta_dir, tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"smiles": ["CCO", "nonsense", "c1ccccc1", ""]}).to_csv(path, index=False)
    res = runner.invoke(app, ["embed", "-e", str(tiny_roberta_dir), "-i", str(path), "-o", str(tmp_path / "a")])
    assert isinstance(res.exception, InvalidSmilesError)
    assert res.exception.indices == [1, 3] and str(path) in str(res.exception)
    assert not (tmp_path / "a" / "manifest.json").exists()
    res = runner.invoke(app, ["embed", "-e", str(tiny_roberta_dir), "-i", str(path), "-o", str(tmp_path / "b"),
                              "--on-invalid", "mask"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["invalid_rows"] == [1, 3] and manifest["n_valid"] == 2
    layer = np.load(tmp_path / "b" / "layer_003.npy")
    assert np.isnan(layer[[1, 3]]).all() and np.isfinite(layer[[0, 2]]).all()
    mols = pd.read_csv(tmp_path / "b" / "molecules.csv", keep_default_na=False)
    assert mols["valid"].tolist() == [True, False, True, False]
    assert mols["invalid_reason"].tolist()[0::2] == ["", ""]
    assert "RDKit cannot parse" in mols["invalid_reason"][1] and mols["invalid_reason"][3] != ""


def test_embed_invalid_rows_are_named_by_file_line_and_flag(tiny_roberta_dir, tmp_path):
    """Blank lines and a quoted two-line field move the file lines away from the row index."""
    path = tmp_path / "bad.csv"
    path.write_text('smiles,note\nCCO,a\n\nCC O,"two\nlines"\nc1ccccc1,b\nC1CC,c\n')
    res = runner.invoke(app, ["embed", "-e", str(tiny_roberta_dir), "-i", str(path), "-o", str(tmp_path / "a")])
    assert isinstance(res.exception, InvalidSmilesError)
    assert res.exception.indices == [1, 3] and res.exception.lines == [4, 7]
    message = str(res.exception)
    assert "line 4: 'CC O' (internal whitespace" in message and "line 7: 'C1CC'" in message
    assert "--on-invalid mask" in message and "on_invalid=" not in message


@pytest.mark.parametrize("args, match", [
    (["--smiles-col", "nope"], "--smiles-col 'nope'"),
    (["--on-invalid", "drop"], "--on-invalid"),
    (["--pooling", "median"], "pooling"),
])
def test_embed_bad_options_name_the_flag(tiny_roberta_dir, csv, tmp_path, args, match):
    res = runner.invoke(app, ["embed", "-e", str(tiny_roberta_dir), "-i", str(csv), "-o", str(tmp_path / "x"), *args])
    assert isinstance(res.exception, ConfigError)
    assert match in str(res.exception)


def test_embed_needs_exactly_one_source(tiny_roberta_dir, tmp_path):
    res = runner.invoke(app, ["embed", "-e", str(tiny_roberta_dir), "-o", str(tmp_path / "x")])
    assert isinstance(res.exception, ConfigError) and "--task or --input" in str(res.exception)


def test_embed_task(tiny_roberta_dir, data_dir, tmp_path):
    out = tmp_path / "task"
    res = runner.invoke(app, ["embed", "-e", str(tiny_roberta_dir), "--task", "half_life_obach",
                              "--data-dir", str(data_dir), "-o", str(out), "--on-invalid", "mask"])
    assert res.exit_code == 0, res.output
    assert "warning: " in res.stderr and "longer than max_length=64" in res.stderr  # logged once
    mols = pd.read_csv(out / "molecules.csv")
    train_val = pd.read_csv(data_dir / "admet_group" / "half_life_obach" / "train_val.csv")
    test = pd.read_csv(data_dir / "admet_group" / "half_life_obach" / "test.csv")
    assert len(mols) == len(train_val) + len(test)
    assert set(mols["split"]) == {"train", "valid", "test"}
    assert (mols["split"] == "test").sum() == len(test)
    assert sorted(mols.loc[mols["split"] == "test", "smiles"]) == sorted(test["Drug"])
    assert "Y" not in mols.columns
    assert np.load(out / "layer_003.npy").shape == (len(mols), 32)
    # truncation is reported row by row: canonical SMILES over 64 tokens, counted independently
    from transformers import AutoTokenizer

    from molstrata.data.smiles import canonicalize

    tok = AutoTokenizer.from_pretrained(tiny_roberta_dir)
    too_long = [i for i, s in enumerate(mols["smiles"]) if len(tok(canonicalize(s))["input_ids"]) > 64]
    manifest = json.loads((out / "manifest.json").read_text())
    assert too_long and manifest["truncated_rows"] == too_long
    assert mols["truncated"].tolist() == [i in set(too_long) for i in range(len(mols))]


def test_encoders_lists_cards_and_tolerates_broken_ones(monkeypatch):
    from molstrata.encoders import registry

    monkeypatch.setitem(
        registry._REGISTRY, "zz-broken",
        registry.EncoderEntry("zz-broken", "molstrata_missing_mod:load", "molstrata_missing_mod:card"),
    )
    res = runner.invoke(app, ["encoders", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert rows["zz-broken"]["status"].startswith("unavailable (ModuleNotFoundError")
    assert set(registry.registered_names()) == set(rows)
    ok = [r for r in rows.values() if r["status"] == "ok"]
    assert all(isinstance(r["num_layers"], int) and r["kind"] for r in ok)
    res = runner.invoke(app, ["encoders"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "zz-broken" in res.output and "unavailable" in res.output


def test_embed_too_long_policy_flags(tiny_roberta_dir, tmp_path):
    from molstrata.encoders.base import InputTooLongError

    path = tmp_path / "long.csv"
    pd.DataFrame({"smiles": ["CCO", "C" * 30]}).to_csv(path, index=False)
    res = runner.invoke(app, ["embed", "-e", str(tiny_roberta_dir), "-i", str(path), "-o", str(tmp_path / "r"),
                              "--max-length", "16", "--on-too-long", "raise"])
    assert isinstance(res.exception, InputTooLongError) and res.exception.indices == [1]
    res = runner.invoke(app, ["embed", "-e", str(tiny_roberta_dir), "-i", str(path), "-o", str(tmp_path / "w"),
                              "--max-length", "16"])
    assert res.exit_code == 0, res.output
    assert res.stderr.count("max_length=16") == 1  # the warning, logged once
    assert json.loads((tmp_path / "w" / "manifest.json").read_text())["truncated_rows"] == [1]
    assert load_config(tmp_path / "w")["params"]["max_length"] == 16
