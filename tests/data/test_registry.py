"""Task names, types and metrics; TaskSplit basics on real ADMET files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import molstrata
from molstrata.core.errors import ConfigError
from molstrata.data import TaskSplit, list_tasks, load_task, task_info

# TDC ADMET leaderboard (tdcommons.ai/benchmark/admet_group/overview): task -> metric.
TDC_LEADERBOARD = {
    "caco2_wang": "mae",
    "hia_hou": "roc-auc",
    "pgp_broccatelli": "roc-auc",
    "bioavailability_ma": "roc-auc",
    "lipophilicity_astrazeneca": "mae",
    "solubility_aqsoldb": "mae",
    "bbb_martins": "roc-auc",
    "ppbr_az": "mae",
    "vdss_lombardo": "spearman",
    "cyp2d6_veith": "pr-auc",
    "cyp3a4_veith": "pr-auc",
    "cyp2c9_veith": "pr-auc",
    "cyp2d6_substrate_carbonmangels": "pr-auc",
    "cyp3a4_substrate_carbonmangels": "roc-auc",
    "cyp2c9_substrate_carbonmangels": "pr-auc",
    "half_life_obach": "spearman",
    "clearance_microsome_az": "spearman",
    "clearance_hepatocyte_az": "spearman",
    "herg": "roc-auc",
    "ames": "roc-auc",
    "dili": "roc-auc",
    "ld50_zhu": "mae",
}


def test_list_tasks_admet_is_tdc_group():
    names = list_tasks("admet")
    assert names == sorted(TDC_LEADERBOARD) and len(names) == 22
    assert list_tasks() == names
    assert molstrata.list_tasks("admet") == names


@pytest.mark.parametrize("name", sorted(TDC_LEADERBOARD))
def test_every_task_metric_and_type(name, data_dir):
    info = task_info(name)
    assert info.metric == TDC_LEADERBOARD[name]
    # the type follows the labels in the data: 0/1 labels <=> classification
    y = pd.read_csv(data_dir / "admet_group" / name / "test.csv")["Y"]
    binary = set(np.unique(y)) <= {0.0, 1.0}
    assert info.task_type == ("classification" if binary else "regression")
    assert info.higher_is_better == (info.metric != "mae")


def test_cyp3a4_substrate_uses_roc_auc():
    assert task_info("cyp3a4_substrate_carbonmangels").metric == "roc-auc"


def test_moleculenet_names():
    assert list_tasks("moleculenet") == sorted(
        f"moleculenet:{n}"
        for n in (
            "esol",
            "freesolv",
            "lipophilicity",
            "bbbp",
            "bace",
            "clintox",
            "tox21",
            "hiv",
            "sider",
        )
    )
    assert task_info("moleculenet:esol").metric == "rmse"
    assert task_info("moleculenet:tox21").metric == "roc-auc"


def test_unknown_names_and_groups_are_config_errors():
    with pytest.raises(ConfigError, match="Did you mean 'caco2_wang'"):
        load_task("caco2_wamg")
    with pytest.raises(ConfigError, match="valid choices"):
        list_tasks("tox")
    with pytest.raises(ConfigError, match="seed must be an integer"):
        load_task("caco2_wang", seed=1.5)


def test_tasksplit_contract(data_dir):
    split = load_task("CACO2_Wang", seed=3, data_dir=data_dir)
    assert isinstance(split, TaskSplit) and isinstance(split, molstrata.TaskSplit)
    assert (split.name, split.metric, split.task_type, split.seed) == (
        "caco2_wang",
        "mae",
        "regression",
        3,
    )
    for part in ("train", "valid", "test"):
        frame = split.part(part)
        assert list(frame.columns) == ["Drug_ID", "Drug", "Y"]
        assert frame.index.equals(pd.RangeIndex(len(frame)))
        assert split.y(part).shape == (len(frame),)
    raw_test = pd.read_csv(data_dir / "admet_group" / "caco2_wang" / "test.csv")
    pd.testing.assert_frame_equal(split.test, raw_test)  # TDC's fixed test set, untouched
    train_val = pd.read_csv(data_dir / "admet_group" / "caco2_wang" / "train_val.csv")
    both = (
        pd.concat([split.train, split.valid])
        .sort_values(["Drug_ID", "Drug", "Y"])
        .reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(
        both, train_val.sort_values(["Drug_ID", "Drug", "Y"]).reset_index(drop=True)
    )
    # sizes as PyTDC computes them: int(n * 0.875) is the train cap
    assert len(split.train) <= int(len(train_val) * 0.875)
    assert "caco2_wang" in repr(split) and "train=" in repr(split)
    with pytest.raises(ConfigError):
        split.part("holdout")


def test_train_and_valid_share_no_scaffold(data_dir):
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    split = load_task("herg", seed=4, data_dir=data_dir)

    def scaffolds(frame):
        return {
            MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(s), includeChirality=False)
            for s in frame["Drug"]
        }

    assert not scaffolds(split.train) & scaffolds(split.valid)


def test_seeds_give_different_splits(data_dir):
    a = load_task("dili", seed=1, data_dir=data_dir)
    b = load_task("dili", seed=2, data_dir=data_dir)
    assert set(a.valid["Drug_ID"]) != set(b.valid["Drug_ID"])
    pd.testing.assert_frame_equal(a.test, b.test)


def test_solubility_invalid_smiles_reported_in_test_not_dropped(data_dir):
    from rdkit import Chem

    split = load_task("solubility_aqsoldb", seed=1, data_dir=data_dir)
    raw_test = pd.read_csv(data_dir / "admet_group" / "solubility_aqsoldb" / "test.csv")
    rejected = [i for i, s in enumerate(raw_test["Drug"]) if Chem.MolFromSmiles(s) is None]
    assert len(split.test) == len(raw_test) == 1997
    assert split.invalid["test"].tolist() == rejected
    assert split.invalid["train"].size == split.invalid["valid"].size == 0
    assert split.omitted.empty  # every train_val SMILES parses, so nothing is left out
    assert len(split.train) + len(split.valid) == 7985
