"""Where molstrata reads data and keeps its caches.

Environment variables
---------------------
MOLSTRATA_DATA_DIR
    A folder holding ``admet_group/<task>/{train_val,test}.csv`` (TDC's layout) and
    ``moleculenet/``. When unset, data is downloaded into :func:`user_data_dir`.
MOLSTRATA_CACHE_DIR
    The embeddings cache. Defaults to the platformdirs user cache.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

DATA_ENV = "MOLSTRATA_DATA_DIR"
CACHE_ENV = "MOLSTRATA_CACHE_DIR"


def env_data_dir() -> Path | None:
    """The folder named by ``MOLSTRATA_DATA_DIR``, or ``None`` when it is unset or empty."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser() if value else None


def user_data_dir() -> Path:
    """Per-user folder for downloaded data (platformdirs)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("molstrata", appauthor=False))


def cache_dir() -> Path:
    """The embeddings cache root: ``MOLSTRATA_CACHE_DIR`` or the platformdirs user cache."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("molstrata", appauthor=False))


_NO_CACHE: list[bool] = []


def cache_enabled() -> bool:
    """False inside :func:`no_cache` (``--no-cache``): caches are neither read nor written."""
    return not _NO_CACHE


@contextlib.contextmanager
def no_cache() -> Iterator[None]:
    """Within this block every cache (embeddings, probe cells, selection and finetune
    results) is bypassed: everything is computed and no cache file is read or written."""
    _NO_CACHE.append(True)
    try:
        yield
    finally:
        _NO_CACHE.pop()


F = TypeVar("F", bound=Callable[..., Any])


def honours_use_cache(fn: F) -> F:
    """Decorate an entry point with a ``use_cache`` keyword: ``use_cache=False`` runs it
    inside :func:`no_cache`, so that every cache it reaches (embeddings, scaffolds,
    conformers) is bypassed."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("use_cache", True):
            return fn(*args, **kwargs)
        with no_cache():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
