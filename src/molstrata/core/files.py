"""Safe file reading and writing for caches, resume files and outputs.

* :func:`read_cached` reads a cache or resume file; whatever is wrong with it (truncated,
  empty, wrong shape, not a file), it warns, naming the path, and returns ``None`` so that the
  caller recomputes. A damaged file never stops a run.
* :func:`atomic_write` writes a file through a temporary file in the same folder, flushed,
  fsynced and renamed into place: readers see the old file or the new one, never half of one,
  and on any failure (disk full included) the temporary file is removed.
* :func:`storage_error` turns an :class:`OSError` from writing into a one-line
  :class:`~molstrata.core.errors.StorageError` that names the path and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

from molstrata.core.errors import StorageError
from molstrata.core.paths import cache_dir

T = TypeVar("T")

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}


def read_cached(path: str | Path, reader: Callable[[Path], T], *, what: str = "cached file",
                keep: tuple[type[BaseException], ...] = ()) -> T | None:
    """``reader(path)``, or ``None`` (with a warning naming ``path``) when it cannot be read.

    A missing file returns ``None`` silently. Any exception raised by ``reader`` (a
    truncated zip, an empty file, JSON of the wrong shape...) is reported as a
    :class:`UserWarning` ending in "recomputing", and ``None`` is returned; except those of
    the ``keep`` types (e.g. a refused untrusted file), which propagate.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return None
    try:
        return reader(path)
    except keep:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage means: recompute
        warnings.warn(f"{what} {path} is damaged ({_one_line(exc)}); recomputing",
                      UserWarning, stacklevel=2)
        return None


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_cache(path: Path) -> bool:
    try:
        root = cache_dir().resolve()
        return Path(os.path.abspath(path)).resolve().is_relative_to(root)
    except (OSError, RuntimeError, ValueError):
        return False


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest ``path`` or ancestor that exists but is not a folder (when the path is
    meant to be a folder or to hold one)."""
    for p in (path, *path.parents):
        if os.path.lexists(p):
            return p if not p.is_dir() else None
    return None


def _short_write(exc: OSError, path: Path) -> bool:
    """Whether an errno-less OSError is a short write on a full device."""
    if "requested and" in str(exc) and "written" in str(exc):
        return True
    for p in (path, *path.parents):
        if p.exists():
            try:
                return shutil.disk_usage(p).free < 1024**2
            except OSError:
                return False
    return False


def storage_error(exc: OSError, path: str | Path, *, cache: bool | None = None) -> StorageError:
    """A one-line :class:`StorageError` for ``exc`` raised while writing ``path``.

    ``cache`` says whether ``path`` is a cache (the fix is then ``MOLSTRATA_CACHE_DIR`` or
    ``--no-cache``); by default, whether it lies under the cache root.
    """
    if isinstance(exc, StorageError):
        return exc
    path = Path(path)
    cache = _is_cache(path) if cache is None else cache
    elsewhere = ("set MOLSTRATA_CACHE_DIR to a writable folder or pass --no-cache" if cache
                 else "choose another --out folder")
    code = exc.errno
    if code is None and _short_write(exc, path):  # numpy's tofile: "N requested and M written"
        code = errno.ENOSPC
    if code in _NO_SPACE:
        msg = f"no space left on the device holding {path}; free space or {elsewhere}"
    elif code in _READ_ONLY:
        msg = f"cannot write {path}: permission denied (read-only); {elsewhere}"
    elif code == errno.EISDIR:
        msg = f"{path} is a folder where a file belongs; remove it or {elsewhere}"
    elif code in (errno.ENOTDIR, errno.EEXIST) and (blocker := _file_in_the_way(path.parent)):
        msg = f"{blocker} is a file where a folder is needed (for {path}); remove it or {elsewhere}"
    elif code in (errno.ENOTDIR, errno.EEXIST) and (blocker := _file_in_the_way(path)):
        msg = f"{blocker} is a file where a folder is needed; remove it or {elsewhere}"
    else:
        msg = f"cannot write {path}: {exc.strerror or exc}; {elsewhere}"
    err = StorageError(msg)
    err.errno, err.filename = code, str(path)
    return err


def ensure_dir(path: str | Path, *, cache: bool | None = None) -> Path:
    """Create folder ``path`` (and parents) and check that a file can be written in it.

    Raises :class:`StorageError` (one line, with the fix) when it is read-only, is a file or
    lies under a file.
    """
    path = Path(path)
    probe = path / f".molstrata-write-test-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "permission denied", str(path))
        with open(probe, "xb"):
            pass
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        raise storage_error(exc, path, cache=cache) from exc
    return path


def atomic_write(path: str | Path, data: bytes | str | Callable[[IO[bytes]], object], *,
                 cache: bool | None = None) -> Path:
    """Write ``data`` (bytes, text, or a function writing to a binary file) to ``path``.

    The bytes go to a temporary file beside ``path``, are flushed and fsynced, then renamed
    over ``path``. On any failure the temporary file is removed and ``path`` is left as it
    was; an :class:`OSError` becomes a one-line :class:`StorageError`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise storage_error(exc, path, cache=cache) from exc
        raise
    return path
