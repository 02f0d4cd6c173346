"""Synthetic embeddings and splits for probe tests (no encoder, no data files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from molstrata.core.embeddings import LayerEmbeddings
from molstrata.data import TaskSplit


def synthetic(n_train=120, n_valid=40, n_test=50, dims=(6, 10, 10, 8), signal_layer=2,
              task_type="regression", seed=0):
    """LayerEmbeddings + TaskSplit where layer ``signal_layer`` carries the label signal."""
    rng = np.random.default_rng(seed)
    n = n_train + n_valid + n_test
    z = rng.normal(size=n)
    layers = []
    for k, d in enumerate(dims):
        x = rng.normal(size=(n, d))
        weight = 3.0 if k == signal_layer else 0.3
        x[:, 0] += weight * z
        layers.append((x * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)).astype(np.float32))
    y = z + 0.3 * rng.normal(size=n)
    metric = "mae"
    if task_type == "classification":
        y = (y > 0).astype(float)
        metric = "roc-auc"
    smiles = [f"C{'C' * i}O" for i in range(n)]  # distinct strings; never parsed here
    emb = LayerEmbeddings(layers=tuple(layers), valid=np.ones(n, bool), smiles=tuple(smiles), encoder="synthetic")
    frame = pd.DataFrame({"Drug_ID": [f"id{i}" for i in range(n)], "Drug": smiles, "Y": y})
    parts = np.split(np.arange(n), [n_train, n_train + n_valid])
    split = TaskSplit(
        name="toy", train=frame.iloc[parts[0]].reset_index(drop=True),
        valid=frame.iloc[parts[1]].reset_index(drop=True), test=frame.iloc[parts[2]].reset_index(drop=True),
        metric=metric, task_type=task_type, seed=1,
    )
    return emb, split


@pytest.fixture
def reg_data():
    return synthetic()


@pytest.fixture
def clf_data():
    return synthetic(task_type="classification", n_train=160, seed=1)
