"""Same molecule, same bytes (issue 17 §4): a molecule's vectors do not depend on the batch it
shares, the batch size, the thread count or whether the cache was cold or warm."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import molstrata
from molstrata import load_encoder
from molstrata.embeddings import embed_cached

#: the source tree under test (children import the same one)
SRC = Path(molstrata.__file__).resolve().parents[1]


def _molecules(data_dir: Path, n: int = 80) -> list[str]:
    frame = pd.read_csv(data_dir / "admet_group" / "caco2_wang" / "train_val.csv")
    return frame["Drug"].tolist()[:n]


@pytest.fixture(scope="module")
def smiles_encoder():
    return load_encoder("default", device="cpu")


def test_vectors_do_not_depend_on_the_batch(smiles_encoder, data_dir):
    smiles = _molecules(data_dir)
    ref = smiles_encoder.embed(smiles)
    perm = np.random.default_rng(0).permutation(len(smiles))
    shuffled = smiles_encoder.embed([smiles[i] for i in perm])
    alone = [smiles_encoder.embed([s]) for s in smiles[:25]]
    for k, layer in enumerate(ref.layers):
        np.testing.assert_array_equal(shuffled.layers[k][np.argsort(perm)], layer)
        np.testing.assert_array_equal(np.concatenate([a.layers[k] for a in alone]), layer[:25])
        for bs in (1, 7, 64):
            np.testing.assert_array_equal(smiles_encoder.embed(smiles, batch_size=bs).layers[k], layer)
        np.testing.assert_array_equal(smiles_encoder.embed(smiles[:30]).layers[k], layer[:30])


def test_cold_and_warm_cache_give_the_same_bytes(smiles_encoder, data_dir, tmp_path):
    smiles = _molecules(data_dir, 60)
    part = embed_cached(smiles_encoder, smiles[::3], cache_dir=tmp_path)  # warms a third
    mixed = embed_cached(smiles_encoder, smiles, cache_dir=tmp_path)
    assert mixed.meta["cache"]["hits"] == len(part.smiles)
    cold = embed_cached(smiles_encoder, smiles, cache_dir=tmp_path / "cold")
    for a, b in zip(mixed.layers, cold.layers, strict=True):
        np.testing.assert_array_equal(a, b)


_CHILD = """
import hashlib, json, sys
import numpy as np, torch
from molstrata import load_encoder
enc = load_encoder("default", device="cpu")
smiles = json.loads(sys.argv[1])
batch = np.stack(enc.embed(smiles).layers)
alone = np.concatenate([np.stack(enc.embed([s]).layers) for s in smiles], axis=1)
print(json.dumps({"threads": torch.get_num_threads(),
                  "batch": hashlib.sha256(batch.tobytes()).hexdigest(),
                  "alone": hashlib.sha256(alone.tobytes()).hexdigest()}))
"""


def _child_digests(smiles: list[str], threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(smiles)], env=env, check=True,
                         capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_vectors_do_not_depend_on_the_thread_count(data_dir):
    smiles = _molecules(data_dir, 120)
    one, two = _child_digests(smiles, 1), _child_digests(smiles, 2)
    assert (one["threads"], two["threads"]) == (1, 2)
    assert one["batch"] == one["alone"] == two["batch"] == two["alone"]


def test_cache_key_names_the_batching_policy(smiles_encoder):
    from molstrata.embeddings.cache import CacheKey
    from molstrata.encoders.flow import BATCHING_VERSION

    key = CacheKey.for_encoder(smiles_encoder, pooling="mean")
    assert key.version.endswith(f"/batching{BATCHING_VERSION}")
    assert hashlib.sha256(json.dumps(key.setting(), sort_keys=True).encode()).hexdigest() == key.setting_digest()
