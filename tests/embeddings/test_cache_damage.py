"""Damaged embeddings-cache chunks are reported and recomputed (same output as a clean
run); environment faults (read-only cache, cache path that is a file, full disk) give one
StorageError line naming the path and the fix."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import molstrata.embeddings.cache as cache_mod
from faults import disk_full, read_only, restore_writable, truncate
from molstrata import load_encoder
from molstrata.core.errors import StorageError
from molstrata.core.paths import no_cache
from molstrata.embeddings import embed_cached

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C", "OC(=O)CCl", "CCN(CC)CC", "c1ccncc1", "NCCO"]


@pytest.fixture(scope="module")
def encoder(tiny_roberta_dir):
    return load_encoder(str(tiny_roberta_dir), device="cpu")


@pytest.fixture(scope="module")
def clean(encoder, tmp_path_factory):
    """Layers of a clean, cold run."""
    emb = embed_cached(encoder, SMILES, cache_dir=tmp_path_factory.mktemp("clean"), chunk_size=3)
    return [np.array(a) for a in emb.layers]


def _chunks(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("embeddings/*/chunks/*") if not p.name.startswith("."))


def _damage_meta(value):
    def damage(chunk: Path) -> None:
        (chunk / "meta.json").write_text(json.dumps(value))
    return damage


def _no_sha(chunk: Path) -> None:
    meta = json.loads((chunk / "meta.json").read_text())
    del meta["sha256"]
    (chunk / "meta.json").write_text(json.dumps(meta))


def _as_file(chunk: Path) -> None:
    import shutil

    shutil.rmtree(chunk)
    chunk.write_text("not a chunk")


DAMAGES = {
    "meta_list": _damage_meta([]),
    "meta_null": _damage_meta(None),
    "meta_string": _damage_meta("x"),
    "meta_no_sha256": _no_sha,
    "meta_truncated": lambda c: truncate(c / "meta.json", 0.5),
    "chunk_is_a_file": _as_file,
    "layer_truncated": lambda c: truncate(c / "layer_001.npy", 0.5),
    "layer_empty": lambda c: truncate(c / "layer_000.npy", 0.0),
    "smiles_empty": lambda c: truncate(c / "smiles.json", 0.0),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_chunk_warns_and_recomputes_identically(encoder, clean, tmp_path, damage):
    embed_cached(encoder, SMILES, cache_dir=tmp_path, chunk_size=3)
    chunk = _chunks(tmp_path)[0]
    DAMAGES[damage](chunk)
    for _ in range(2):  # the rerun and every later one work
        with pytest.warns(UserWarning, match="recomputing") if _ == 0 else warnings.catch_warnings():
            emb = embed_cached(encoder, SMILES, cache_dir=tmp_path, chunk_size=3)
        for a, b in zip(emb.layers, clean, strict=True):
            assert np.asarray(a).tobytes() == b.tobytes()
    assert chunk.is_dir()


def test_read_only_cache_is_one_clear_line(encoder, tmp_path, monkeypatch):
    embed_cached(encoder, SMILES[:3], cache_dir=tmp_path, chunk_size=3)
    read_only(monkeypatch, tmp_path)
    try:
        with pytest.raises(StorageError, match="MOLSTRATA_CACHE_DIR .*--no-cache") as info:
            embed_cached(encoder, SMILES, cache_dir=tmp_path, chunk_size=3)
    finally:
        restore_writable(tmp_path)
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)


def test_no_cache_bypasses_a_read_only_cache(encoder, clean, tmp_path, monkeypatch):
    read_only(monkeypatch, tmp_path)
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path))
    try:
        with no_cache():
            emb = embed_cached(encoder, SMILES)
    finally:
        restore_writable(tmp_path)
    assert "cache" not in emb.meta
    for a, b in zip(emb.layers, clean, strict=True):
        np.testing.assert_allclose(np.asarray(a), b, atol=1e-5)


def test_cache_path_that_is_a_file_is_one_clear_line(encoder, tmp_path):
    root = tmp_path / "cache"
    root.write_text("oops")
    with pytest.raises(StorageError, match="is a file") as info:
        embed_cached(encoder, SMILES, cache_dir=root)
    assert str(root) in str(info.value) and "\n" not in str(info.value)


def test_full_disk_is_one_line_and_leaves_no_temporary_folder(encoder, clean, tmp_path, monkeypatch):
    disk_full(monkeypatch, cache_mod.np, "save", after=4)
    with pytest.raises(StorageError, match="no space left .*free space") as info:
        embed_cached(encoder, SMILES, cache_dir=tmp_path, chunk_size=3)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.rglob(".tmp-*"))
    monkeypatch.undo()
    emb = embed_cached(encoder, SMILES, cache_dir=tmp_path, chunk_size=3)
    for a, b in zip(emb.layers, clean, strict=True):
        assert np.asarray(a).tobytes() == b.tobytes()
