"""Helpers that simulate damaged files and environment faults in tests.

* :func:`disk_full` makes a writer function fail with ``OSError(ENOSPC)`` after writing
  part of its output, as a full disk does.
* :func:`read_only` makes a folder read-only. ``chmod`` does not stop root (tests may run as
  root in containers), so ``os.access`` is also patched to report the folder, and everything
  under it, as not writable: molstrata checks writability up front with ``os.access``.
* :func:`truncate` cuts a file to a fraction of its size (0: empty).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def disk_full(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, *, after: int = 0) -> list[int]:
    """Replace ``owner.name`` (a writer such as ``np.save``) with one that succeeds ``after``
    times, then writes half its data and raises ``OSError(ENOSPC)``. Returns a call counter."""
    original: Callable[..., Any] = getattr(owner, name)
    calls = [0]

    def writer(file: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] <= after:
            return original(file, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)):
            Path(file).write_bytes(b"\x93NUMPY partial")
        elif hasattr(file, "write"):
            file.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(owner, name, writer)
    return calls


def read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``folder`` (and its files) read-only, also for root (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in [folder, *folder.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    root = str(folder.resolve())
    real_access = os.access

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        inside = str(Path(os.fspath(path)).resolve()).startswith(root)
        if inside and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


def restore_writable(folder: Path) -> None:
    """Undo :func:`read_only`'s chmod (so that pytest can clean up)."""
    for p in [folder, *folder.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


def truncate(path: Path, fraction: float = 0.5) -> None:
    """Cut ``path`` to ``fraction`` of its size (0: an empty file)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
