"""Run configs: everything needed to rerun a command, saved as ``config.toml`` in its run folder.

``config.toml`` holds ``[molstrata]`` (version, command, time written), ``[versions]`` (of
molstrata, torch, transformers, rdkit, scikit-learn, numpy), ``[params]`` (the resolved
options) and, when the command ran from the command line, ``[invocation]``: the full command
line and every option's value (``options``, keyed by the option's parameter name), which
``--config RUN_DIR/config.toml`` reads back to rerun it (:mod:`molstrata.cli._rerun`).
"""

from __future__ import annotations

import datetime as _dt
import tomllib
from collections.abc import Callable, Mapping
from contextvars import ContextVar
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


#: packages whose versions ``config.toml`` records (distribution names)
VERSIONED = ("molstrata", "torch", "transformers", "rdkit", "scikit-learn", "numpy")
_INVOCATION: ContextVar[dict[str, Any] | None] = ContextVar("molstrata_invocation", default=None)


def versions() -> dict[str, str]:
    """``{package: version}`` of :data:`VERSIONED` (``"not installed"`` when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = __version__ if name == "molstrata" else "not installed"
    return found


def set_invocation(command: str, command_line: str, options: Mapping[str, Any]) -> Callable[[], None]:
    """Record the command line being run, for every :func:`save_config` until the returned
    function is called (the CLI calls it when the command ends)."""
    token = _INVOCATION.set({"command": command, "command_line": command_line,
                             "options": _clean(dict(options))})
    return lambda: _INVOCATION.reset(token)


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
    params = dict(params)
    invocation = _INVOCATION.get()
    if invocation is not None and invocation["command"] != command:
        invocation = None  # another command's line (a Python call inside a CLI command)
    if invocation is not None and "command_line" in params:
        params["command_line"] = invocation["command_line"]
    doc = {
        "molstrata": {
            "version": __version__,
            "command": command,
            "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        },
        "versions": versions(),
        "params": _clean(params),
    }
    if invocation is not None:
        doc["invocation"] = {"command_line": invocation["command_line"],
                             "options": invocation["options"]}

    atomic_write(path, tomli_w.dumps(doc).encode(), cache=False)
    return path


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a ``config.toml`` written by :func:`save_config` (a folder or the file)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.toml"
    with open(path, "rb") as fh:
        return tomllib.load(fh)
