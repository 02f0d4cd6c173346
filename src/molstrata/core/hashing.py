"""Content hashes used for cache keys, weight identity and download checks."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path, *, block_size: int = 1 << 22) -> str:
    """Hex sha256 of a file's bytes, read in blocks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(block_size), b""):
            h.update(block)
    return h.hexdigest()
