"""A warm read of the embeddings cache hashes no file that a full check already passed, yet a
file changed afterwards (its size or mtime moves) is still caught, and a full check on demand
(``MOLSTRATA_CACHE_VERIFY=full``, ``verify_cache``) catches even a change that restored the
mtime."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import molstrata.core.hashing as hashing
import molstrata.embeddings.store as store
from molstrata import load_encoder
from molstrata.embeddings import embed_cached

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C", "OC(=O)CCl", "CCN(CC)CC", "c1ccncc1", "NCCO"]


@pytest.fixture(scope="module")
def encoder(tiny_roberta_dir):
    return load_encoder(str(tiny_roberta_dir), device="cpu")


@pytest.fixture
def hashed(monkeypatch):
    """Names of the files hashed (every module that hashes cache files)."""
    seen: list[str] = []
    real = hashing.file_sha256

    def counting(path, **kw):
        seen.append(Path(path).name)
        return real(path, **kw)

    monkeypatch.setattr(store, "file_sha256", counting)
    try:
        import molstrata.embeddings.verify as verify
    except ImportError:  # the code before this module existed hashed in store
        pass
    else:
        monkeypatch.setattr(verify, "file_sha256", counting)
        monkeypatch.setattr(verify, "_SEEN", {})  # as a fresh process
    return seen


def _age(root: Path, seconds: float = 60.0) -> None:
    """Backdate every cache file, as if written a minute ago."""
    for p in root.rglob("*"):
        if p.is_file():
            st = p.stat()
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def _layer_file(root: Path) -> Path:
    return sorted(root.glob("embeddings/*/chunks/*/layer_001.npy"))[0]


def _flip(path: Path, keep_mtime: bool) -> None:
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF
    path.write_bytes(bytes(raw))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _run(encoder, root: Path):
    return [np.array(a) for a in embed_cached(encoder, SMILES, cache_dir=root, chunk_size=3).layers]


def test_warm_read_hashes_nothing_and_a_later_change_is_caught(encoder, tmp_path, hashed, monkeypatch):
    clean = _run(encoder, tmp_path)
    _age(tmp_path)
    _run(encoder, tmp_path)  # first read after the write: a full check, then stamped
    hashed.clear()
    try:
        import molstrata.embeddings.verify as verify
    except ImportError:
        pass
    else:
        monkeypatch.setattr(verify, "_SEEN", {})  # a new process
    again = _run(encoder, tmp_path)
    assert hashed == []
    for a, b in zip(again, clean, strict=True):
        assert a.tobytes() == b.tobytes()
    _flip(_layer_file(tmp_path), keep_mtime=False)  # same size, new mtime
    with pytest.warns(UserWarning, match="checksum mismatch in layer_001.npy"):
        fixed = _run(encoder, tmp_path)
    for a, b in zip(fixed, clean, strict=True):
        assert a.tobytes() == b.tobytes()


def test_fresh_files_are_not_trusted_on_their_mtime(encoder, tmp_path, hashed):
    """A change within the timestamp granularity of a just-written file is still caught."""
    _run(encoder, tmp_path)
    _run(encoder, tmp_path)  # files younger than RACY_S: hashed, not stamped
    _flip(_layer_file(tmp_path), keep_mtime=True)
    with pytest.warns(UserWarning, match="checksum mismatch"):
        _run(encoder, tmp_path)


def test_full_check_on_demand_catches_a_change_that_kept_the_mtime(encoder, tmp_path, hashed, monkeypatch):
    from molstrata.embeddings import verify_cache

    clean = _run(encoder, tmp_path)
    _age(tmp_path)
    _run(encoder, tmp_path)
    target = _layer_file(tmp_path)
    _flip(target, keep_mtime=True)  # the trade-off: stamps alone do not see this
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run(encoder, tmp_path)
    monkeypatch.setenv("MOLSTRATA_CACHE_VERIFY", "full")
    with pytest.warns(UserWarning, match="checksum mismatch"):
        fixed = _run(encoder, tmp_path)
    for a, b in zip(fixed, clean, strict=True):
        assert a.tobytes() == b.tobytes()
    monkeypatch.delenv("MOLSTRATA_CACHE_VERIFY")
    _age(tmp_path)
    _run(encoder, tmp_path)
    _flip(_layer_file(tmp_path), keep_mtime=True)
    with pytest.warns(UserWarning, match="checksum mismatch"):
        damaged = verify_cache(tmp_path)
    assert len(damaged) == 1 and not damaged[0].exists()
    assert verify_cache(tmp_path) == []
