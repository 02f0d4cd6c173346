"""Options and help shared by every ``molstrata`` command (one definition each).

- :func:`trust_remote_code_option`, :func:`trust_checkpoint_option`, :func:`device_option`,
  :func:`no_cache_option`, :func:`ray_address_option`, :func:`check_encoders` (the ``--encoder`` callback that
  fails fast, before torch is imported), :func:`probe_help` and :func:`pooling_help` (the
  choices read from their registries);
- :func:`polish_help`: after the commands are registered, flags lose the ``<bool>`` type
  column and help texts are escaped for rich markup (``'molstrata[ray]'`` stays as typed);
- :func:`cli_message`: an error text in CLI words (``--on-invalid mask``, not
  ``on_invalid='mask'``).

Seeds have one parser, :func:`molstrata.core.seed.parse_seeds`, used by every ``--seeds``.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import DefaultPlaceholder

__all__ = ["Command", "Group", "check_encoders", "cli_message", "device_option", "no_cache_option", "polish_help",
           "pooling_help", "probe_help", "ray_address_option", "trust_checkpoint_option",
           "trust_remote_code_option"]


def trust_remote_code_option() -> Any:
    """``--trust-remote-code``: let a model folder or hub checkpoint run its own Python code."""
    return typer.Option(False, "--trust-remote-code",
                        help="Let a model folder or hub checkpoint run its own Python code "
                             "(needed by molformer-xl); only for code you trust.")


def trust_checkpoint_option() -> Any:
    """``--trust-checkpoint``: unpickle a checkpoint beyond molstrata's allowlist."""
    return typer.Option(False, "--trust-checkpoint",
                        help="Unpickle checkpoints that name Python globals outside molstrata's allowlist, "
                             "or legacy (non-zip) torch files: runs any code in them, so only for files "
                             "you trust.")


def device_option() -> Any:
    """``--device``: where the encoder runs (``None``: CUDA when available)."""
    return typer.Option(None, "--device", help="cpu, cuda... (default: CUDA when available).")


def no_cache_option() -> Any:
    """``--no-cache``: neither read nor write the embeddings cache."""
    return typer.Option(False, "--no-cache",
                        help="Do not read or write the embeddings cache (MOLSTRATA_CACHE_DIR); e.g. when "
                             "it is read-only.")


def ray_address_option() -> Any:
    """``--ray-address``: which Ray cluster ``--executor ray`` joins."""
    return typer.Option("auto", "--ray-address",
                        help="With --executor ray: 'auto' joins the running cluster (RAY_ADDRESS, or "
                             "`ray start --head` on this machine), else starts a local Ray instance; or "
                             "host:port / ray://host:10001.")


def check_encoders(value: Any) -> Any:
    """``--encoder`` callback: a hub id that is not cached and cannot be downloaded now fails
    here, in well under a second, before torch and transformers are imported."""
    from molstrata.encoders.registry import check_encoder_ref

    for name in [value] if isinstance(value, str) else list(value or []):
        check_encoder_ref(name)
    return value


def probe_help() -> str:
    """The ``--probe`` help text; ``{probes}`` is filled from the probe registry when help is
    shown (:class:`Command`), so that parsing a command line imports no scikit-learn."""
    return "Probe fitted on each layer: {probes}."


def pooling_help(default: str = "the encoder's") -> str:
    """The ``--pooling`` help text; ``{poolings}`` is filled from
    :class:`molstrata.encoders.pooling.Pooling` when help is shown."""
    return f"{{poolings}} (default: {default})."


def _probe_choices() -> str:
    from molstrata.probe.estimators import PROBE_CLASSES

    described = {"linear": "linear (ridge/logistic)", "gbdt": "gbdt (LightGBM)",
                 "mlp-tuned": "mlp-tuned (MLP, grid tuned on valid)",
                 "gbdt-tuned": "gbdt-tuned (LightGBM, grid tuned on valid)"}
    return " | ".join(described.get(n, n) for n in PROBE_CLASSES)


def _pooling_choices() -> str:
    from molstrata.encoders.pooling import Pooling

    return " | ".join(p.value for p in Pooling)


#: placeholders of help texts -> the registry that lists the choices
_CHOICES = {"{probes}": _probe_choices, "{poolings}": _pooling_choices}


class _FlagsMixin:
    """Help without a ``<bool>`` type after a flag (``--help`` and typer's own included), and
    with the choices of :data:`_CHOICES` read from their registries."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        shown: list[tuple[Any, list[str]]] = []
        for param in getattr(self, "params", []):
            for key, choices in _CHOICES.items():
                if param.help and key in param.help:
                    param.help = param.help.replace(key, choices())
            aliases = [o for o in getattr(param, "opts", [])[1:] if o.startswith("--")]
            if aliases and getattr(param, "opts", [""])[0].startswith("--"):
                # one long name in the option column (``--selection,--strate…`` at 80
                # columns); the aliases go to the help text
                shown.append((param, list(param.opts)))
                param.opts = [o for o in param.opts if o not in aliases]
                also = f" (also {', '.join(aliases)})"
                if param.help and also not in param.help:
                    param.help += also
        try:
            super().format_help(ctx, formatter)  # type: ignore[misc]
        finally:
            for param, opts in shown:
                param.opts = opts

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and not getattr(param, "count", False) \
                    and param.metavar is None:
                param.metavar = ""
        return params


class Command(_FlagsMixin, TyperCommand):
    """The click command class of every ``molstrata`` sub-command (see :func:`polish_help`);
    its help ends with the root's ``-v``/``-q``, which may follow the command too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.epilog:
            self.epilog = VERBOSITY_EPILOG


#: the last line of every sub-command's help
VERBOSITY_EPILOG = "Also -v/--verbose (debug messages) and -q/--quiet (-qq: errors only), here or before the command."


class Group(_FlagsMixin, TyperGroup):
    """The click group class of ``molstrata`` and ``molstrata pretrain``.

    The root group also takes its ``-v``/``-q`` after the command (``molstrata probe ... -q``,
    as a newcomer types it): :func:`verbosity_first` moves them in front."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, verbosity_first(args) if ctx.parent is None else args)


#: the root's -v/-q flags, however spelt (-v, -vv, -qq, -vq, --verbose, --quiet)
_VERBOSITY = re.compile(r"-[vq]+|--verbose|--quiet")


def verbosity_first(args: list[str]) -> list[str]:
    """``args`` with the ``-v``/``-q`` flags given after the command (and before a ``--``)
    moved in front of it, where the root group reads them: ``probe -t x -q`` ->
    ``-q probe -t x``. No sub-command has a ``-v`` or ``-q`` of its own."""
    at = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    if at is None:
        return args
    end = args.index("--") if "--" in args[at:] else len(args)
    moved = [a for a in args[at + 1:end] if _VERBOSITY.fullmatch(a)]
    kept = [a for a in args[at + 1:end] if not _VERBOSITY.fullmatch(a)]
    return [*args[:at], *moved, args[at], *kept, *args[end:]]


def polish_help(app: typer.Typer) -> None:
    """Give every command of ``app`` (sub-apps included) the :class:`Command` /
    :class:`Group` classes (flags show no ``<bool>``) and escape rich markup in option and
    command help texts, so that ``pip install 'molstrata[ray]'`` shows as typed."""
    from rich.markup import escape

    seen: set[int] = set()
    for info in _commands(app):
        if isinstance(info.cls, DefaultPlaceholder) or info.cls in (None, TyperCommand):
            info.cls = Command
        for obj in (info, info.callback):
            doc = getattr(obj, "help" if obj is info else "__doc__", None)
            if isinstance(doc, str) and id(obj) not in seen:
                setattr(obj, "help" if obj is info else "__doc__", escape(doc))
            seen.add(id(obj))
        for param in inspect.signature(info.callback).parameters.values():
            option = param.default
            if isinstance(option, typer.models.ParameterInfo) and id(option) not in seen \
                    and isinstance(option.help, str):
                option.help = escape(option.help)
            seen.add(id(option))


def _commands(app: typer.Typer) -> list[Any]:
    found: list[Any] = [c for c in app.registered_commands if c.callback is not None]
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is not None:
            if isinstance(sub.info.cls, DefaultPlaceholder) or sub.info.cls in (None, TyperGroup):
                sub.info.cls = Group
            found.extend(_commands(sub))
    return found


#: Python keywords in error texts -> the CLI flag that sets them
_FLAGS = ("on_invalid", "on_too_long", "max_length", "max_layer", "trust_remote_code",
          "trust_checkpoint", "pooling", "batch_size", "smiles_col", "id_col", "cv_folds")


def cli_message(text: str) -> str:
    """``text`` with Python keyword arguments spelled as CLI flags: ``on_invalid='mask'`` ->
    ``--on-invalid mask``, ``trust_remote_code=True`` -> ``--trust-remote-code``; a
    ``(CLI: --flag)`` aside that repeats the flag is dropped."""
    names = "|".join(_FLAGS)
    text = re.sub(rf"\b({names})=True(\s*\((?:CLI:\s*)?--[\w-]+\))?",
                  lambda m: "--" + m[1].replace("_", "-"), text)
    return re.sub(rf"\b({names})=(['\"]?)([^\s'\",;)]+)\2",
                  lambda m: f"--{m[1].replace('_', '-')} {m[3]}", text)
