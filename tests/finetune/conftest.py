"""Fixtures for the finetune tests: a tiny random RoBERTa encoder and tiny TDC splits."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
import torch
from finetune_tiny import TinyRoberta, tiny_roberta


@pytest.fixture(autouse=True)
def _one_thread():
    """Deterministic, and kind to a shared 2-core box."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def tiny_encoder() -> TinyRoberta:
    """A 3-block, 32-wide random RoBERTa (dropout 0.1) behind the Encoder contract."""
    return TinyRoberta(tiny_roberta(n_layers=3, hidden=32, seed=0))


@dataclass(frozen=True)
class Split:
    """A stand-in with TaskSplit's fields (name, train/valid/test, metric, task_type)."""

    name: str
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    metric: str
    task_type: str


def _tiny_split(data_dir, task, metric, task_type, n_train=64, n_valid=32, n_test=32) -> Split:
    tv = pd.read_csv(data_dir / "admet_group" / task / "train_val.csv")
    te = pd.read_csv(data_dir / "admet_group" / task / "test.csv")
    return Split(
        task,
        tv.iloc[:n_train].reset_index(drop=True),
        tv.iloc[n_train : n_train + n_valid].reset_index(drop=True),
        te.iloc[:n_test].reset_index(drop=True),
        metric,
        task_type,
    )


@pytest.fixture
def caco2_tiny(data_dir) -> Split:
    """64 / 32 / 32 molecules of caco2_wang (regression, MAE)."""
    return _tiny_split(data_dir, "caco2_wang", "mae", "regression")


@pytest.fixture
def hia_tiny(data_dir) -> Split:
    """64 / 32 / 32 molecules of hia_hou (classification, ROC-AUC)."""
    return _tiny_split(data_dir, "hia_hou", "roc-auc", "classification")
