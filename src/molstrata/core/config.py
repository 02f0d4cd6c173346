"""Run configs: everything needed to rerun a command, saved as ``config.toml`` in its run folder."""

from __future__ import annotations

import datetime as _dt
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from molstrata import __version__
from molstrata.core.files import atomic_write


def _clean(value: Any) -> Any:
    """Make a value TOML-serialisable (paths to str, tuples to lists, drop ``None``)."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value if v is not None]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


def save_config(path: str | Path, command: str, params: Mapping[str, Any]) -> Path:
    """Write ``config.toml`` with the command, its resolved parameters and version info.

    Parameters
    ----------
    path : folder or file path; a folder gets ``config.toml`` inside it.
    command : the molstrata sub-command (``"probe"``, ``"embed"``...).
    params : every resolved option, seeds included.
    """
    path = Path(path)
    if path.suffix != ".toml":
        path.mkdir(parents=True, exist_ok=True)
        path = path / "config.toml"
    doc = {
        "molstrata": {
            "version": __version__,
            "command": command,
            "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        },
        "params": _clean(dict(params)),
    }

    atomic_write(path, tomli_w.dumps(doc).encode(), cache=False)
    return path


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a ``config.toml`` written by :func:`save_config` (a folder or the file)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.toml"
    with open(path, "rb") as fh:
        return tomllib.load(fh)
