"""Checksum verification of the embeddings cache's files, hashing each file once.

Every cache file's sha256 is recorded in its folder's ``meta.json``. Hashing every file on
every read costs a pass over all the bytes (330 MB for the 22 ADMET tasks' 46k molecules ×
7 layers × 256 floats) each time a sweep starts, so a full check is remembered:

* in this process, per file, as its ``(size, mtime_ns, inode)``;
* on disk, in the folder's ``verified.json`` (``{file: [size, mtime_ns, inode, sha256]}``),
  written after a full check (best effort: a read-only cache just re-hashes next time);
* for the first read only, the files this process has just written, hashed from the bytes
  it wrote (:func:`remember_written`): a cold run does not hash what it computed twice.

A file is re-hashed when its size, modification time or inode differs from the stamp, or when
the stamp's sha256 is not the one ``meta.json`` records. Files modified less than
:data:`RACY_S` seconds before the check are never stamped (as git does for its index): a
change within the file system's timestamp granularity can leave the modification time
unchanged, so such a file is hashed again on its next read.

**Trade-off.** A write that keeps a file's size and inode and restores its modification
time (``touch -d``, ``os.utime``, some copy tools) is not detected by the stamps. Set
``MOLSTRATA_CACHE_VERIFY=full`` (or call :func:`verify_folder` with ``full=True``, or
:func:`molstrata.embeddings.verify_cache`) to hash every file on every read.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from molstrata.core.hashing import file_sha256

__all__ = ["RACY_S", "STAMP_NAME", "VERIFY_ENV", "full_verification", "remember_written", "verify_folder"]

#: environment variable: ``full`` hashes every cache file on every read
VERIFY_ENV = "MOLSTRATA_CACHE_VERIFY"
#: the per-folder record of the last full check
STAMP_NAME = "verified.json"
#: files modified less than this many seconds before a check are not stamped
RACY_S = 2.0

#: this process's full checks: path -> (size, mtime_ns, inode, sha256)
_SEEN: dict[str, tuple[int, int, int, str]] = {}
#: files this process wrote and hashed from their bytes, not yet read: path -> stamp
_WRITTEN: dict[str, tuple[int, int, int, str]] = {}


def full_verification() -> bool:
    """Whether ``MOLSTRATA_CACHE_VERIFY=full`` asks for hashing every file on every read."""
    return os.environ.get(VERIFY_ENV, "").strip().lower() == "full"


def _stat_key(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return int(st.st_size), int(st.st_mtime_ns), int(st.st_ino)


def _read_stamps(folder: Path) -> dict[str, tuple[int, int, int, str]]:
    """The folder's stamps; empty when absent or unreadable (then every file is hashed)."""
    try:
        raw = json.loads((folder / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    out = {}
    for name, v in raw.items():
        if (isinstance(v, list) and len(v) == 4 and all(isinstance(x, int) for x in v[:3])
                and isinstance(v[3], str)):
            out[str(name)] = (v[0], v[1], v[2], v[3])
    return out


def _write_stamps(folder: Path, stamps: Mapping[str, tuple[int, int, int, str]]) -> None:
    """Replace the folder's stamps (best effort: any OSError leaves them as they were)."""
    tmp = folder / f".tmp-{STAMP_NAME}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.write_text(json.dumps({k: list(v) for k, v in sorted(stamps.items())}))
        os.replace(tmp, folder / STAMP_NAME)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def remember_written(folder: Path, sums: Mapping[str, str]) -> None:
    """Record, in this process only, the files of ``folder`` that it has just written and
    hashed from the bytes it wrote (``sums``: name -> sha256), so that the run's own read
    right after its compute does not hash them again (unless their size, mtime or inode
    changed). The record serves that first read only: later reads follow the rules above."""
    for fname, digest in sums.items():
        try:
            _WRITTEN[str(folder / fname)] = (*_stat_key(folder / fname), digest)
        except OSError:
            continue


def verify_folder(folder: Path, sums: Mapping[str, str], *, full: bool | None = None) -> int:
    """Raise ValueError unless every file of ``sums`` (name -> sha256) matches.

    Parameters
    ----------
    folder : a chunk or view folder
    sums : file name -> expected hex sha256 (``meta.json``'s ``sha256``)
    full : hash every file, ignoring the stamps; default :func:`full_verification`

    Returns
    -------
    int, the number of files hashed (0 when every stamp still held)
    """
    full = full_verification() if full is None else bool(full)
    stamps = {} if full else _read_stamps(folder)
    fresh: dict[str, tuple[int, int, int, str]] = {}
    hashed = 0
    now = time.time_ns()
    for fname, digest in sums.items():
        path = folder / fname
        try:
            key = _stat_key(path)
        except OSError as exc:
            raise ValueError(f"{fname}: {type(exc).__name__}") from exc
        stamp = (*key, digest)
        written = _WRITTEN.pop(str(path), None)  # trusted for the first read only
        if not full and (_SEEN.get(str(path)) == stamp or stamps.get(fname) == stamp or written == stamp):
            if written != stamp or now - key[1] > RACY_S * 1e9:  # never a racy stamp
                fresh[fname] = stamp
            continue
        hashed += 1
        if file_sha256(path) != digest:
            _SEEN.pop(str(path), None)
            raise ValueError(f"checksum mismatch in {fname}")
        if now - key[1] > RACY_S * 1e9:  # old enough for its mtime to reveal a later change
            fresh[fname] = stamp
            _SEEN[str(path)] = stamp
    if fresh != stamps and fresh:
        _write_stamps(folder, fresh)
    return hashed
