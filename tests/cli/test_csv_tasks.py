"""Your own labelled CSV as a task, through the real entry point: ``probe``/``finetune``/
``analyze --input FILE --smiles-col --target-col --task-type``; a fixed test set, train/valid
per seed; errors naming the file, the column and the file line (exit code 2)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli_main import run_main
from molstrata.cli import app

N_ROWS = 160  # the first rows of MoleculeNet's ESOL: seconds with the tiny RoBERTa


def _invoke(*args):
    return CliRunner().invoke(app, [*map(str, args)])


def _main(monkeypatch, capsys, *args) -> tuple[int, str]:
    """``molstrata ARGS`` through ``main()``, as the script runs it: (exit code, the error line)."""
    code, err = run_main(monkeypatch, capsys, *args)
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    return code, lines[-1] if lines else err


@pytest.fixture
def renamed_esol(data_dir, tmp_path):
    """ESOL's CSV as a user would have it: other column names, fewer columns."""
    raw = pd.read_csv(data_dir / "moleculenet" / "delaney-processed.csv").head(N_ROWS)
    frame = pd.DataFrame({"name": raw["Compound ID"], "structure": raw["smiles"],
                          "logS": raw["measured log solubility in mols per litre"]})
    path = tmp_path / "my_solubility.csv"
    frame.to_csv(path, index=False)
    return path


def _csv_flags(path):
    return ["--input", path, "--smiles-col", "structure", "--target-col", "logS",
            "--task-type", "regression", "--id-col", "name"]


def test_probe_on_a_renamed_moleculenet_csv(renamed_esol, tiny_roberta_dir, tmp_path):
    out = tmp_path / "run"
    res = _invoke("probe", "-e", tiny_roberta_dir, *_csv_flags(renamed_esol), "--seeds", "1,2",
                  "--selection", "valid", "--out", out, "--no-report")
    assert res.exit_code == 0, res.output + repr(res.exception)
    summary = pd.read_csv(out / "summary.csv")
    assert summary["task"].tolist() == ["my_solubility"] and summary["metric"].tolist() == ["mae"]
    one = pd.read_csv(out / "predictions" / "my_solubility_seed1.csv")
    two = pd.read_csv(out / "predictions" / "my_solubility_seed2.csv")
    assert one["Drug_ID"].tolist() == two["Drug_ID"].tolist()  # one fixed test set
    assert 0 < len(one) < N_ROWS // 5
    labels = pd.read_csv(renamed_esol).set_index("name")["logS"]
    np.testing.assert_array_equal(one["Y"].to_numpy(), labels.loc[one["Drug_ID"]].to_numpy())
    record = json.loads((out / "run.json").read_text())
    sha = hashlib.sha256(renamed_esol.read_bytes()).hexdigest()
    assert record["inputs"]["my_solubility/my_solubility.csv"] == sha

    # the file's sha256 keys the cells: an edited label is noticed and recomputed
    frame = pd.read_csv(renamed_esol)
    frame.loc[~frame["name"].isin(one["Drug_ID"]), "logS"] += 0.5
    frame.to_csv(renamed_esol, index=False)
    again = _invoke("probe", "-e", tiny_roberta_dir, *_csv_flags(renamed_esol), "--seeds", "1,2",
                    "--selection", "valid", "--out", out, "--no-report")
    assert again.exit_code == 0, again.output + repr(again.exception)
    assert "my_solubility.csv changed" in " ".join(again.output.split())
    assert "resumed" not in again.output


def test_seeds_redraw_train_valid_but_never_test(renamed_esol):
    from molstrata.data import load_csv_task

    kw = {"smiles_col": "structure", "target_cols": "logS", "id_col": "name"}
    a, b = load_csv_task(renamed_esol, seed=1, **kw), load_csv_task(renamed_esol, seed=2, **kw)
    assert a.test["Drug_ID"].tolist() == b.test["Drug_ID"].tolist()
    assert set(a.valid["Drug_ID"]) != set(b.valid["Drug_ID"])
    for s in (a, b):
        ids = [*s.train["Drug_ID"], *s.valid["Drug_ID"], *s.test["Drug_ID"]]
        assert sorted(ids) == sorted(pd.read_csv(renamed_esol)["name"])  # a partition
    frame = pd.read_csv(renamed_esol)
    c = load_csv_task(frame, seed=1, **kw, name="my_solubility")  # a DataFrame: the same split
    for part in ("train", "valid", "test"):
        assert c.part(part)["Drug_ID"].tolist() == a.part(part)["Drug_ID"].tolist()


def test_split_column(renamed_esol):
    from molstrata.data import load_csv_task

    frame = pd.read_csv(renamed_esol)
    frame["part"] = (["train"] * 120) + (["valid"] * 20) + (["Test "] * 20)
    fixed = [load_csv_task(frame, seed=s, smiles_col="structure", target_cols="logS",
                           split="column:part") for s in (1, 2)]
    assert fixed[0].test["Drug"].tolist() == frame["structure"][140:].str.strip().tolist()
    assert fixed[0].valid["Drug"].tolist() == fixed[1].valid["Drug"].tolist()
    frame["part"] = frame["part"].replace("valid", "train")
    drawn = [load_csv_task(frame, seed=s, smiles_col="structure", target_cols="logS",
                           split="column:part") for s in (1, 2)]
    assert drawn[0].test["Drug"].tolist() == frame["structure"][140:].str.strip().tolist()
    assert set(drawn[0].valid["Drug"]) != set(drawn[1].valid["Drug"])
    assert len(drawn[0].train) + len(drawn[0].valid) == 140


def _labelled(tmp_path, rows=40, **columns):
    smiles = ["C" * (1 + i % 9) + "O" + "c1ccccc1" * (i % 3) for i in range(rows)]
    frame = pd.DataFrame({"smiles": smiles, "y": np.linspace(0, 1, rows), **columns})
    return frame


@pytest.mark.parametrize("case", ["text label", "missing column", "split value", "not 0/1",
                                  "too few rows"])
def test_csv_errors_name_file_column_and_line(case, tmp_path, monkeypatch, capsys, tiny_roberta_dir):
    frame = _labelled(tmp_path)
    flags = ["--target-col", "y", "--task-type", "regression"]
    if case == "text label":
        frame["y"] = frame["y"].astype(object)
        frame.loc[15, "y"] = "n/d"  # data row 15: file line 17
        expect = ["'y'", "'n/d'", "line 17"]
    elif case == "missing column":
        flags = ["--target-col", "activity", "--task-type", "regression"]
        expect = ["'activity'", "--target-col"]
    elif case == "split value":
        frame["part"] = ["train"] * 30 + ["test"] * 10
        frame.loc[3, "part"] = "tset"  # file line 5
        flags += ["--split", "column:part"]
        expect = ["column:part", "'tset'", "line 5"]
    elif case == "not 0/1":
        frame["y"] = (np.arange(len(frame)) % 2).astype(float)
        frame.loc[7, "y"] = 2.0  # file line 9
        flags = ["--target-col", "y", "--task-type", "classification"]
        expect = ["'y'", "0 or 1", "line 9"]
    else:
        frame = frame.head(2)
        expect = ["no rows", "too few rows"]
    path = tmp_path / "assay.csv"
    frame.to_csv(path, index=False)
    code, line = _main(monkeypatch, capsys, "probe", "-e", tiny_roberta_dir, "--input", path,
                       *flags, "--seeds", "1", "--out", tmp_path / "out")
    assert code == 2, line
    for word in [str(path), *expect]:
        assert word in line, (word, line)
    assert not (tmp_path / "out").exists()


def test_csv_flags_without_input_and_unsafe_names(tmp_path, monkeypatch, capsys, tiny_roberta_dir):
    code, line = _main(monkeypatch, capsys, "probe", "--target-col", "y", "--out", tmp_path / "o")
    assert code == 2 and "--input" in line
    path = tmp_path / "assay.csv"
    _labelled(tmp_path).to_csv(path, index=False)
    code, line = _main(monkeypatch, capsys, "probe", "--input", path, "--target-col", "y",
                       "--task-type", "regression", "--task-name", "../x", "--out", tmp_path / "o")
    assert code == 2 and "--task-name" in line and "file name" in line
    code, line = _main(monkeypatch, capsys, "probe", "--input", path, "--target-col", "y",
                       "--out", tmp_path / "o")
    assert code == 2 and "--task-type" in line


def test_finetune_and_analyze_take_a_csv(renamed_esol, tiny_roberta_dir, tmp_path):
    flags = _csv_flags(renamed_esol)
    res = _invoke("finetune", "-e", tiny_roberta_dir, *flags, "--seeds", "1", "--layers", "3",
                  "--lrs", "1e-4", "--epochs", "1", "--out", tmp_path / "ft", "--device", "cpu")
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert pd.read_csv(tmp_path / "ft" / "summary.csv")["task"].tolist() == ["my_solubility"]
    res = _invoke("analyze", "-e", tiny_roberta_dir, *flags, "--metrics", "dataset_entropy",
                  "--max-molecules", "400", "--out", tmp_path / "an", "--device", "cpu")
    assert res.exit_code == 0, res.output + repr(res.exception)
    n = len(pd.read_csv(tmp_path / "an" / "molecules.csv"))
    assert 0 < n < N_ROWS  # train + valid only: the fixed test set is never analysed


def test_a_dataframe_is_a_task_and_its_errors_name_rows():
    import molstrata
    from molstrata.core.errors import ConfigError, LabelError

    frame = pd.DataFrame({"smi": ["CCO", "CCN", "c1ccccc1", "CCC"] * 10, "y": np.arange(40.0)})
    split = molstrata.load_csv_task(frame, smiles_col="smi", target_cols="y", split="random", seed=3)
    assert split.name == "dataframe" and split.group == "csv"
    assert [len(split.train), len(split.valid), len(split.test)] == [32, 4, 4]
    again = molstrata.load_csv_task(frame, smiles_col="smi", target_cols="y", split="random", seed=4)
    assert split.test["Drug_ID"].tolist() == again.test["Drug_ID"].tolist()
    assert split.valid["Drug_ID"].tolist() != again.valid["Drug_ID"].tolist()
    bad = frame.astype({"y": object})
    bad.loc[6, "y"] = "high"
    with pytest.raises(LabelError, match=r"column 'y' .*'high'.*DataFrame row 6 \(0-based\)"):
        molstrata.load_csv_task(bad, smiles_col="smi", target_cols="y")
    with pytest.raises(ConfigError, match=r"'smiles' \(--smiles-col\) not in DataFrame"):
        molstrata.load_csv_task(frame, target_cols="y")
