"""Shared fixtures. No test needs the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _data_dir() -> Path:
    env = os.environ.get("MOLSTRATA_DATA_DIR", "").strip()
    return Path(env) if env else SHARED / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The TDC/MoleculeNet data folder (``MOLSTRATA_DATA_DIR`` or ``../shared/data``)."""
    path = _data_dir()
    if not (path / "admet_group").is_dir():
        pytest.fail(f"test data not found at {path}; set MOLSTRATA_DATA_DIR to ../shared/data")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repository (fixtures, data)."""
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own embeddings cache, never the user's."""
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
