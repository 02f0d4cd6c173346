"""``--config RUN_DIR/config.toml``: rerun a command from the options its run recorded.

Every command that writes a run folder records its full command line and every option's
value in ``config.toml`` (``[invocation]``, :mod:`molstrata.core.config`). ``--config`` reads
them back as the command's defaults (Click's ``default_map``), so the rerun has exactly the
recorded options; flags given beside ``--config`` override the recorded values (e.g.
``--config run/config.toml --out run2`` writes the same run elsewhere). Path options are
recorded as absolute paths, so the recorded command reruns from any working folder.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import typer

from molstrata.core.config import set_invocation
from molstrata.core.errors import ConfigError

#: the name of the ``--config`` parameter in every command (never recorded itself)
PARAM = "rerun_config"
_GIVEN = ("COMMANDLINE", "DEFAULT_MAP", "ENVIRONMENT")  # Click's ParameterSource names


def _load_defaults(ctx: typer.Context, value: Path | None) -> Path | None:
    """Eager callback: the recorded options become the command's defaults."""
    if value is None:
        return value
    import tomllib

    path = value / "config.toml" if value.is_dir() else value
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--config {path}: not a readable TOML file ({exc})") from None
    command = str(doc.get("molstrata", {}).get("command", "?"))
    if command != ctx.info_name:
        raise ConfigError(f"--config {path} was written by `molstrata {command}`, not "
                          f"`molstrata {ctx.info_name}`; rerun it with `molstrata {command} --config {path}`")
    options = doc.get("invocation", {}).get("options")
    if not isinstance(options, dict):
        raise ConfigError(f"--config {path} records no command-line options (written by molstrata "
                          f"{doc.get('molstrata', {}).get('version', '?')} from Python, or before "
                          "--config existed); rerun with the flags its params table lists")
    known = {p.name for p in ctx.command.params}
    ctx.default_map = {**(ctx.default_map or {}), **{k: v for k, v in options.items() if k in known}}
    return value


CONFIG = typer.Option(
    None, "--config", is_eager=True, callback=_load_defaults,
    help="Rerun from RUN_DIR/config.toml (or RUN_DIR): its recorded options are the defaults; flags given beside it override them.",
)


def _flag(param: Any) -> str:
    longs = [o for o in param.opts if o.startswith("--")]
    return (longs or list(param.opts))[0]


def _words(param: Any, value: Any) -> list[str]:
    """The command-line words that give the Click parameter ``param`` the value ``value``."""
    if getattr(param, "is_flag", False):
        if value:
            return [_flag(param)]
        secondary = getattr(param, "secondary_opts", None)
        return [secondary[0]] if secondary else []
    values = value if isinstance(value, list | tuple) else [value]
    return [w for v in values for w in (_flag(param), str(v))]


def remember_invocation(ctx: typer.Context) -> None:
    """Record the running command's full command line and option values for its
    ``config.toml``; forgotten when the command ends. Call it first in a command."""
    params = [p for p in ctx.command.params if p.name and p.name != PARAM]
    values = {p.name: _absolute(ctx.params.get(p.name)) for p in params}
    words = ["molstrata", ctx.info_name or "?"]
    for p in params:
        value = values[p.name]
        source = ctx.get_parameter_source(p.name)
        if value is not None and getattr(source, "name", None) in _GIVEN:
            words += _words(p, value)
    ctx.call_on_close(set_invocation(ctx.info_name or "?", shlex.join(words), values))


def _absolute(value: Any) -> Any:
    """Paths made absolute, so that the recorded command reruns from any folder."""
    if isinstance(value, Path):
        return Path(os.path.abspath(value.expanduser()))
    if isinstance(value, list | tuple):
        return [_absolute(v) for v in value]
    return value
