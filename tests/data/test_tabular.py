"""MoleculeNet CSVs and user CSV tasks: seeded scaffold/random splits, invalid rows, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from molstrata.core import errors
from molstrata.core.errors import ConfigError, DataNotFoundError, InvalidSmilesError
from molstrata.data import evaluate, load_csv_task, load_task

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MOLS30 = FIXTURES / "molecules30.csv"
INVALID = FIXTURES / "molecules_invalid.csv"


def _scaffold(smiles: str) -> str:
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return MurckoScaffold.MurckoScaffoldSmiles(
        mol=Chem.MolFromSmiles(smiles), includeChirality=False
    )


def _ids(frame: pd.DataFrame) -> set[str]:
    return set(frame["Drug_ID"].map(str))


def test_esol_scaffold_split(data_dir):
    split = load_task("moleculenet:esol", seed=1, data_dir=data_dir)
    raw = pd.read_csv(data_dir / "moleculenet" / "delaney-processed.csv")
    n = len(raw)
    sizes = [len(split.train), len(split.valid), len(split.test)]
    assert sum(sizes) == n == 1128
    assert sizes[0] <= int(0.8 * n) and sizes[1] <= int(0.1 * n)
    assert (split.metric, split.task_type, split.target_cols) == ("rmse", "regression", ("Y",))
    parts = [split.train, split.valid, split.test]
    scaffolds = [{_scaffold(s) for s in p["Drug"]} for p in parts]
    assert not (scaffolds[0] & scaffolds[1]) and not (scaffolds[0] & scaffolds[2])
    assert not (scaffolds[1] & scaffolds[2])
    # labels travel with their molecules
    truth = dict(
        zip(raw["Compound ID"], raw["measured log solubility in mols per litre"], strict=True)
    )
    row = split.test.iloc[0]
    assert row["Y"] == truth[row["Drug_ID"]]
    other = load_task("moleculenet:esol", seed=2, data_dir=data_dir)
    assert _ids(other.test) != _ids(split.test)
    again = load_task("moleculenet:esol", seed=1, data_dir=data_dir)
    pd.testing.assert_frame_equal(again.test, split.test)


def test_clintox_is_multitask(data_dir):
    split = load_task("moleculenet:clintox", seed=1, data_dir=data_dir)
    assert split.target_cols == ("FDA_APPROVED", "CT_TOX") and split.n_tasks == 2
    assert list(split.test.columns) == ["Drug_ID", "Drug", "FDA_APPROVED", "CT_TOX"]
    assert split.y("test").shape == (len(split.test), 2)
    raw = pd.read_csv(data_dir / "moleculenet" / "clintox.csv")
    total = len(split.train) + len(split.valid) + len(split.test) + len(split.omitted)
    assert total == len(raw) == 1484
    row = split.valid.iloc[0]
    source = raw.iloc[int(row["Drug_ID"])]  # no id column: Drug_ID is the source row
    assert (row["Drug"], row["CT_TOX"]) == (source["smiles"].strip(), source["CT_TOX"])


@pytest.mark.slow
def test_tox21_is_multitask_with_missing_labels(data_dir):
    split = load_task("moleculenet:tox21", seed=3, data_dir=data_dir)
    assert split.n_tasks == 12 and split.target_cols[0] == "NR-AR"
    y = split.y("valid")
    assert y.shape == (len(split.valid), 12) and np.isnan(y).any()
    total = len(split.train) + len(split.valid) + len(split.test) + len(split.omitted)
    assert total == 7831
    # a perfect score where labels exist, whatever the missing entries
    perfect = np.nan_to_num(y, nan=0.5)
    assert evaluate(split.metric, y, perfect) == pytest.approx(1.0)


def test_bbbp_invalid_smiles_are_omitted_and_listed(data_dir):
    from rdkit import Chem

    raw = pd.read_csv(data_dir / "moleculenet" / "BBBP.csv")
    rejected = [i for i, s in enumerate(raw["smiles"]) if Chem.MolFromSmiles(s) is None]
    assert rejected  # BBBP has SMILES RDKit rejects
    with pytest.warns(UserWarning, match="RDKit rejects"):
        split = load_task("moleculenet:bbbp", seed=1, data_dir=data_dir)
    assert split.omitted["source_row"].tolist() == rejected
    assert len(split.train) + len(split.valid) + len(split.test) == len(raw) - len(rejected)
    kept = pd.concat([split.train, split.valid, split.test])
    assert not set(kept["Drug"]) & set(raw["smiles"].iloc[rejected])


def test_moleculenet_without_data_names_the_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLSTRATA_DATA_DIR", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="MOLSTRATA_DATA_DIR"):
        load_task("moleculenet:bace")


def test_csv_task_regression_scaffold():
    split = load_csv_task(
        MOLS30, smiles_col="smiles", target_cols="logPapp", id_col="mol_id", seed=7
    )
    raw = pd.read_csv(MOLS30)
    assert split.name == "molecules30" and split.metric == "mae"
    assert sorted(_ids(split.train) | _ids(split.valid) | _ids(split.test)) == sorted(raw["mol_id"])
    assert len(split.train) == 24 or len(split.train) <= int(0.8 * 30)
    merged = split.train.merge(raw, left_on="Drug_ID", right_on="mol_id")
    np.testing.assert_array_equal(merged["Y"], merged["logPapp"])
    np.testing.assert_array_equal(merged["Drug"], merged["smiles"])


def test_csv_task_classification_random_split():
    split = load_csv_task(
        MOLS30, target_cols="permeable", task_type="classification", split="random", seed=0
    )
    assert split.metric == "roc-auc" and split.task_type == "classification"
    assert [len(split.train), len(split.valid), len(split.test)] == [24, 3, 3]
    perm = np.random.default_rng(0).permutation(30)  # the documented random split
    assert split.test["Drug_ID"].tolist() == [str(i) for i in perm[27:]]
    assert set(split.train["Y"]) <= {0.0, 1.0}


def test_csv_task_multitarget():
    split = load_csv_task(MOLS30, target_cols=["logPapp", "permeable"], seed=1)
    assert split.target_cols == ("logPapp", "permeable") and split.y("train").shape[1] == 2


def test_csv_invalid_smiles_raise_with_row_indices():
    with pytest.raises(InvalidSmilesError) as err:
        load_csv_task(INVALID, target_cols="y")
    assert err.value.indices == [1, 3, 5]  # 'not_a_smiles', 'C1CC' (unclosed ring), ''
    assert "molecules_invalid.csv" in str(err.value)


def test_csv_invalid_smiles_mask_keeps_rows_aligned():
    split = load_csv_task(INVALID, target_cols="y", on_invalid="mask", split="random", seed=0)
    raw = pd.read_csv(INVALID, keep_default_na=False)
    seen = []
    for part in ("train", "valid", "test"):
        frame = split.part(part)
        for k in split.invalid[part]:
            seen.append(int(frame["Drug_ID"].iloc[k]))
        for _, row in frame.iterrows():  # every row keeps its own label
            assert row["Y"] == raw["y"].iloc[int(row["Drug_ID"])]
    assert sorted(seen) == [1, 3, 5]
    assert split.omitted.empty


def test_csv_invalid_smiles_omit_lists_them():
    with pytest.warns(UserWarning, match="3 rows"):
        split = load_csv_task(INVALID, target_cols="y", on_invalid="omit")
    assert split.omitted["source_row"].tolist() == [1, 3, 5]
    assert len(split.train) + len(split.valid) + len(split.test) == 3


def test_csv_errors_name_the_problem(tmp_path):
    with pytest.raises(DataNotFoundError, match="--input"):
        load_csv_task(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match=r"'activity' \(--target-col\).*columns are"):
        load_csv_task(MOLS30, target_cols="activity")
    with pytest.raises(ConfigError, match="--smiles-col"):
        load_csv_task(MOLS30, smiles_col="SMILES", target_cols="logPapp")
    with pytest.raises(errors.LabelError, match="0 or 1"):
        load_csv_task(MOLS30, target_cols="logPapp", task_type="classification")
    with pytest.raises(ConfigError, match="valid choices"):
        load_csv_task(MOLS30, target_cols="logPapp", split="stratified")
    with pytest.raises(ConfigError, match="summing to 1"):
        load_csv_task(MOLS30, target_cols="logPapp", frac=(0.5, 0.2, 0.2))
    bad = tmp_path / "bad.csv"
    bad.write_text("smiles,y\nCCO,1.0\nCCN,\nCCC,abc\n")
    with pytest.raises(errors.LabelError, match=r"non-numeric labels, e.g. 'abc', at .*bad.csv line 4"):
        load_csv_task(bad, target_cols="y")
    bad.write_text("smiles,y\nCCO,1.0\nCCN,\nCCC,2\n")
    with pytest.raises(errors.LabelError, match=r"missing labels at .*bad.csv line 3"):
        load_csv_task(bad, target_cols="y")


def test_resolve_task_from_cli_flags(data_dir):
    from molstrata.data import resolve_task

    a = resolve_task("caco2_wang", seed=2, data_dir=data_dir)
    assert a.name == "caco2_wang" and a.seed == 2
    b = resolve_task(input_csv=MOLS30, target_cols="permeable", task_type="classification")
    assert b.name == "molecules30" and b.metric == "roc-auc"
    with pytest.raises(ConfigError, match="exactly one of --task or --input"):
        resolve_task("caco2_wang", MOLS30)
    with pytest.raises(ConfigError, match="exactly one"):
        resolve_task()


def test_parse_smiles_reports_rows_and_keeps_alignment():
    from molstrata.data import parse_smiles

    smiles = ["CCO", "C1CC", "c1ccccc1", None, "OCC"]
    with pytest.raises(InvalidSmilesError) as err:
        parse_smiles(smiles, source="demo.csv")
    assert err.value.indices == [1, 3] and "demo.csv" in str(err.value)
    parsed = parse_smiles(smiles, on_invalid="mask")
    assert parsed.valid.tolist() == [True, False, True, False, True]
    assert parsed.canonical[0] == parsed.canonical[4] == "CCO"  # same molecule, same canonical form
    assert parsed.invalid_indices.tolist() == [1, 3]
