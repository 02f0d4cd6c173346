"""The embeddings cache's storage: keys, checksummed chunk folders and assembled views.

One folder per encoder setting (:class:`CacheKey` minus SMILES) holds ``chunks/`` written
atomically with the sha256 of every file in ``meta.json``, and ``views/`` (large results
assembled once). :mod:`molstrata.embeddings.cache` decides what to read and what to compute;
this module only reads, verifies and writes the files (layout: see that module).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from molstrata.core.files import atomic_write, ensure_dir, storage_error
from molstrata.core.hashing import file_sha256
from molstrata.embeddings.verify import remember_written, verify_folder
from molstrata.encoders.flow import BATCHING_VERSION, layer_dims

if TYPE_CHECKING:
    from molstrata.encoders.base import Encoder

__all__ = ["FORMAT_VERSION", "STALE_TMP_S", "CacheKey", "EmbeddingCache"]

#: bump when the on-disk format changes
FORMAT_VERSION = 1
#: temporary folders older than this (seconds) are leftovers of killed runs and removed
STALE_TMP_S = 3600


def _sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """Everything that decides one molecule's cached embedding.

    Attributes
    ----------
    encoder : the encoder's name
    identity : sha256 of :meth:`Encoder.identity` (weights, tokenizer, config, truncation)
    pooling : pooling method
    max_length : longest input in tokens (``None``: no limit)
    num_layers : blocks kept (the truncation depth)
    include_special : whether special tokens were pooled
    version : molstrata version, cache format and batching policy (which decides the bytes)
    smiles : the exact string fed to the model (canonical unless ``canonicalize=False``)
    """

    encoder: str
    identity: str
    pooling: str
    max_length: int | None
    num_layers: int
    include_special: bool
    version: str
    smiles: str = ""

    @classmethod
    def for_encoder(
        cls, encoder: Encoder, *, pooling: str, include_special: bool = False, smiles: str = ""
    ) -> CacheKey:
        """The key of ``smiles`` embedded by ``encoder`` with these settings."""
        ident = json.dumps(encoder.identity(), sort_keys=True, default=str)
        return cls(
            encoder=encoder.name, identity=_sha256(ident.encode()), pooling=str(pooling),
            max_length=encoder.max_length, num_layers=int(encoder.num_layers),
            include_special=bool(include_special), version=embeddings_version(), smiles=smiles,
        )

    def setting(self) -> dict[str, Any]:
        """Every field but ``smiles``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "smiles"}

    def setting_digest(self) -> str:
        """sha256 of every field but ``smiles``: names the setting's folder."""
        return _sha256(json.dumps(self.setting(), sort_keys=True).encode())

    def digest(self) -> str:
        """sha256 of every field, ``smiles`` included: one molecule's identity."""
        return _sha256(json.dumps(asdict(self), sort_keys=True).encode())


def embeddings_version() -> str:
    """What else, besides the encoder and the settings, fixes an embedding's bytes:
    ``"<molstrata version>/<chunk format>/batching<BATCHING_VERSION>"``. Part of every cache
    key, and of the probe cells' key (cells fitted on other bytes are recomputed)."""
    from molstrata import __version__

    return f"{__version__}/{FORMAT_VERSION}/batching{BATCHING_VERSION}"


# ------------------------------------------------------------------------------ chunk files
def _layer_name(k: int) -> str:
    return f"layer_{k:03d}.npy"


def _write_folder(final: Path, smiles: Sequence[str], layers: Sequence[np.ndarray], extra: dict) -> None:
    """Write smiles + layers + meta (with checksums) to a temp folder, then rename to ``final``."""
    tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        sums: dict[str, str] = {}  # hashed from the bytes written (not read back)
        sums["smiles.json"] = _write_bytes(tmp / "smiles.json", json.dumps(list(smiles)).encode())
        for k, arr in enumerate(layers):
            buf = io.BytesIO()  # np.save's bytes, the same as it writes to a file
            np.save(buf, np.ascontiguousarray(arr, dtype=np.float32))
            sums[_layer_name(k)] = _write_bytes(tmp / _layer_name(k), buf.getbuffer())
        meta = {
            "format": FORMAT_VERSION, "n": len(smiles), "dims": [int(a.shape[1]) for a in layers],
            "sha256": sums, **extra,
        }
        with open(tmp / "meta.json", "w") as fh:
            json.dump(meta, fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            tmp.rename(final)
        except OSError:  # another process wrote the same chunk first: keep theirs
            if not (final / "meta.json").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    remember_written(final, sums)  # the read right after this run's compute hashes nothing


def _write_bytes(path: Path, data: bytes | memoryview) -> str:
    """Write ``data`` to ``path``; its hex sha256."""
    with open(path, "wb") as fh:
        fh.write(data)
    return _sha256(data)


@dataclass
class _Chunk:
    path: Path
    smiles: list[str]
    meta: dict
    _layers: list[np.ndarray] | None = None

    @classmethod
    def read(cls, path: Path) -> _Chunk:
        """Read ``meta.json`` and ``smiles.json``; ValueError unless both have the right shape."""
        if not path.is_dir():
            raise ValueError("not a folder")
        meta = json.loads((path / "meta.json").read_text())
        smiles = json.loads((path / "smiles.json").read_text())
        if not isinstance(meta, dict) or not isinstance(smiles, list):
            raise ValueError("meta.json or smiles.json has the wrong shape")
        dims, sums = meta.get("dims"), meta.get("sha256")
        if (meta.get("format") != FORMAT_VERSION or not isinstance(meta.get("n"), int)
                or len(smiles) != meta["n"] or not all(isinstance(x, str) for x in smiles)):
            raise ValueError("unexpected format or row count")
        if not isinstance(dims, list) or not all(isinstance(d, int) for d in dims):
            raise ValueError("meta.json has no list of layer dims")
        if not isinstance(sums, dict) or not all(isinstance(v, str) for v in sums.values()):
            raise ValueError("meta.json has no sha256 checksums")
        if not isinstance(meta.get("truncated", []), list):
            raise ValueError("meta.json: truncated is not a list")
        return cls(path, smiles, meta)

    def verify(self, *, full: bool | None = None) -> None:
        """Raise ValueError unless every file matches its recorded sha256.

        A file is hashed only when it changed (size, mtime, inode) since its last full
        check, unless ``full`` (default: ``MOLSTRATA_CACHE_VERIFY=full``); see
        :mod:`molstrata.embeddings.verify`.
        """
        expected = {"smiles.json", *(_layer_name(k) for k in range(len(self.meta["dims"])))}
        if set(self.meta["sha256"]) != expected:
            raise ValueError("the checksum list does not name every file")
        verify_folder(self.path, self.meta["sha256"], full=full)
        if len(self.meta["dims"]) + 1 != len(self.meta["sha256"]):
            raise ValueError("layer files missing from the checksum list")

    def layers(self) -> list[np.ndarray]:
        """Read-only memmaps, (n, dim_k) float32 each."""
        if self._layers is None:
            self._layers = [
                np.load(self.path / _layer_name(k), mmap_mode="r", allow_pickle=False) for k in range(len(self.meta["dims"]))
            ]
            for k, (arr, d) in enumerate(zip(self._layers, self.meta["dims"], strict=True)):
                if arr.shape != (self.meta["n"], d) or arr.dtype != np.float32:
                    raise ValueError(f"layer {k} has shape {arr.shape} {arr.dtype}")
        return self._layers


def _discard(path: Path, why: str) -> None:
    """Warn that ``path`` is damaged and remove it (StorageError when it cannot be removed)."""
    warnings.warn(f"embeddings cache: discarding {path}, it is damaged ({why}); recomputing",
                  UserWarning, stacklevel=3)
    trash = path.parent / f".tmp-corrupt-{path.name}-{uuid.uuid4().hex[:8]}"
    try:
        path.rename(trash)
    except FileNotFoundError:  # removed meanwhile by another process
        return
    except OSError as exc:
        raise storage_error(exc, path, cache=True) from exc
    if trash.is_dir() and not trash.is_symlink():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink(missing_ok=True)


class EmbeddingCache:
    """The chunks of one encoder setting (one :meth:`CacheKey.setting_digest`)."""

    def __init__(self, root: Path, key: CacheKey) -> None:
        self.key = key
        self.path = Path(root) / "embeddings" / key.setting_digest()[:32]
        self.chunks_dir = self.path / "chunks"
        self.views_dir = self.path / "views"
        ensure_dir(self.chunks_dir, cache=True)  # one clear line when read-only or a file
        setting = self.path / "setting.json"
        if not setting.is_file():
            if os.path.lexists(setting):
                _discard(setting, "not a file")
            atomic_write(setting, json.dumps(key.setting(), indent=1, sort_keys=True), cache=True)
        self._clean_stale()

    def _clean_stale(self) -> None:
        now = time.time()
        for parent in (self.chunks_dir, self.views_dir, self.path):
            if not parent.is_dir():
                continue
            for p in parent.glob(".tmp-*"):
                try:
                    if now - p.stat().st_mtime > STALE_TMP_S:
                        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
                except OSError:
                    pass

    def index(self) -> tuple[dict[str, tuple[int, int]], list[_Chunk]]:
        """Map fed string → (chunk number, row) over every readable chunk."""
        chunks: list[_Chunk] = []
        where: dict[str, tuple[int, int]] = {}
        for p in sorted(self.chunks_dir.iterdir()):
            if p.name.startswith("."):
                continue
            try:
                chunk = _Chunk.read(p)
            except Exception as exc:  # noqa: BLE001 - any damage: recompute
                _discard(p, f"unreadable: {type(exc).__name__}: {exc}")
                continue
            c = len(chunks)
            chunks.append(chunk)
            for r, s in enumerate(chunk.smiles):
                where.setdefault(s, (c, r))
        return where, chunks

    def write_chunk(self, smiles: Sequence[str], layers: Sequence[np.ndarray], truncated: Sequence[int]) -> Path:
        """Store one computed chunk atomically. ``truncated``: its rows cut by max length."""
        digest = _sha256("\n".join(smiles).encode())[:32]
        final = self.chunks_dir / digest
        if os.path.lexists(final) and not final.is_dir():
            _discard(final, "a file where a chunk folder belongs")
        if not final.exists():
            try:
                _write_folder(final, smiles, layers, {"truncated": [int(t) for t in truncated]})
            except OSError as exc:
                raise storage_error(exc, final, cache=True) from exc
        return final


def _request_digest(setting: str, fed: Sequence[str]) -> str:
    h = hashlib.sha256(setting.encode())
    for s in fed:
        h.update(b"\n" + s.encode())
    return h.hexdigest()[:32]


def _dims(encoder: Encoder, chunks: list[_Chunk]) -> list[int]:
    if chunks:
        return [int(d) for d in chunks[0].meta["dims"]]
    return layer_dims(encoder)


def _gather(
    out: list[np.ndarray], idx: np.ndarray, src: list[tuple[int, int]], chunks: list[_Chunk]
) -> None:
    """Copy rows chunk by chunk: out[k][idx[j]] = chunk[src[j]][k]."""
    if not len(idx):
        return
    src_c = np.asarray([c for c, _ in src])
    src_r = np.asarray([r for _, r in src])
    for c in np.unique(src_c):
        sel = np.flatnonzero(src_c == c)
        rows = src_r[sel]
        for k, arr in enumerate(chunks[c].layers()):
            out[k][idx[sel]] = arr[rows]


def _view(
    cache: EmbeddingCache, key: CacheKey, inputs: Sequence[str], fed: list[str], idx: np.ndarray,
    src: list[tuple[int, int]], chunks: list[_Chunk], dims: list[int],
) -> tuple[list[np.ndarray], Path]:
    """Assemble a large result into a view folder once; return read-only memmaps of it."""
    n = len(inputs)
    # rows are keyed by the fed string at each valid position, and by "" where invalid
    labels = [""] * n
    for j, i in enumerate(idx):
        labels[int(i)] = fed[j]
    digest = _request_digest(key.setting_digest(), labels)
    final = cache.views_dir / digest
    if final.exists():
        try:
            view = _Chunk.read(final)
            view.verify()
            return list(view.layers()), final
        except Exception as exc:  # noqa: BLE001 - any damage: recompute
            _discard(final, f"{type(exc).__name__}: {exc}")
    try:
        return _write_view(cache, final, digest, labels, idx, src, chunks, dims)
    except OSError as exc:
        raise storage_error(exc, final, cache=True) from exc


def _write_view(
    cache: EmbeddingCache, final: Path, digest: str, labels: list[str], idx: np.ndarray,
    src: list[tuple[int, int]], chunks: list[_Chunk], dims: list[int],
) -> tuple[list[np.ndarray], Path]:
    n = len(labels)
    if os.path.lexists(final) and not final.is_dir():
        _discard(final, "a file where a view folder belongs")
    cache.views_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.views_dir / f".tmp-{digest}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        sums = {}
        (tmp / "smiles.json").write_text(json.dumps(labels))
        sums["smiles.json"] = file_sha256(tmp / "smiles.json")
        mms = [
            np.lib.format.open_memmap(tmp / _layer_name(k), mode="w+", dtype=np.float32, shape=(n, d))
            for k, d in enumerate(dims)
        ]
        for mm in mms:
            mm[:] = np.nan
        _gather(mms, idx, src, chunks)
        for k, mm in enumerate(mms):
            mm.flush()
            sums[_layer_name(k)] = file_sha256(tmp / _layer_name(k))
        del mms
        meta = {"format": FORMAT_VERSION, "n": n, "dims": dims, "sha256": sums, "view": True}
        (tmp / "meta.json").write_text(json.dumps(meta))
        try:
            tmp.rename(final)
        except OSError:  # written meanwhile by another process
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    view = _Chunk.read(final)
    return list(view.layers()), final
