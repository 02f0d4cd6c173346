"""Read pickle-based files (torch checkpoints, pickled vocabularies) without running their code.

A pickle names Python callables and calls them while it loads, so reading an untrusted pickle
with the stock unpickler runs whatever the file asks for. molstrata reads such files three
ways, and never with the stock unpickler unless the caller passes ``trust=True``:

- :func:`load_tensors`: ``torch.load(weights_only=True)`` (torch's own restricted unpickler:
  tensors, containers, numbers, strings). For state dicts and molstrata's own checkpoints.
- :func:`load_torch_restricted`: a zip-format torch file whose ``data.pkl`` may name only an
  exact list of ``(module, qualified name)`` pairs, read by :class:`RestrictedUnpickler`. For
  files holding model classes that torch's weights-only unpickler cannot rebuild (chemprop
  checkpoints hold Lightning's ``AttributeDict``, a ``dict`` subclass).
- :func:`load_pickle_restricted`: a plain pickle file, through the same unpickler.

Both torch readers refuse legacy (non-zip) torch files (read by pickle's own ``load`` before
any check, and the format of CVE-2025-32434 on torch < 2.6) and TorchScript archives (they
hold code), each with one line naming the file, the reason and the opt-in, if any.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import re
import types
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from molstrata.core.errors import ConfigError, DataNotFoundError

#: the first bytes of a zip archive (torch >= 1.6 saves checkpoints as zip files)
_ZIP_MAGIC = b"PK\x03\x04"
#: how a user lets an encoder unpickle a checkpoint fully (named in refusals)
TRUST_OPT_IN = "trust_checkpoint=True (CLI: --trust-checkpoint)"


class UntrustedFileError(ConfigError):
    """A file needs code execution (a global outside the allowlist, a legacy or TorchScript
    file) to load, and the caller did not opt in."""


def _trust_hint(opt_in: str | None) -> str:
    return f"; pass {opt_in} only if you trust it" if opt_in else ""


class UntrustedGlobalError(pickle.UnpicklingError):
    """A pickle names a Python global (or sets the state of an object) outside the allowlist."""


class RestrictedUnpickler(pickle._Unpickler):  # noqa: SLF001  (pure-Python: BUILD can be checked)
    """Unpickler that resolves only an exact set of ``(module, qualified name)`` pairs.

    Every way a pickle reaches a Python object by name (``GLOBAL``, ``STACK_GLOBAL``,
    ``INST``, ``OBJ``, the ``EXT`` codes) goes through :meth:`find_class`, which checks the
    exact pair: protocol 4's dotted names (``("torch.nn.modules.module",
    "inspect.attrgetter")``) are refused, never walked. ``BUILD`` (set an object's state) is
    allowed only on instances of the allowlisted classes. Subclasses set ``allowed``.
    """

    allowed: frozenset[tuple[str, str]] = frozenset()

    def find_class(self, module: str, name: str) -> Any:
        if "." in name or (module, name) not in self.allowed:
            raise UntrustedGlobalError(f"the Python global {module}.{name}")
        return super().find_class(module, name)

    def _load_build(self) -> None:
        cls = type(self.stack[-2])  # the stack ends with: object, state
        if (cls.__module__, cls.__qualname__) not in self.allowed:
            raise UntrustedGlobalError(f"the state of a {cls.__module__}.{cls.__qualname__} object")
        pickle._Unpickler.load_build(self)  # noqa: SLF001

    dispatch = dict(pickle._Unpickler.dispatch)  # noqa: SLF001
    dispatch[pickle.BUILD[0]] = _load_build


def _check_pairs(allow: Iterable[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    pairs = frozenset((str(m), str(n)) for m, n in allow)
    dotted = sorted(f"{m}:{n}" for m, n in pairs if "." in n)
    if dotted:
        raise ValueError(f"allowlist names must not contain dots: {dotted}")
    return pairs


def restricted_pickle_module(allow: Iterable[tuple[str, str]]) -> types.SimpleNamespace:
    """A ``pickle_module`` for ``torch.load`` whose ``Unpickler`` resolves only ``allow``."""
    pairs = _check_pairs(allow)
    cls = type("AllowlistUnpickler", (RestrictedUnpickler,), {"allowed": pairs})

    def load(file: Any, **kw: Any) -> Any:
        return cls(file, **kw).load()

    return types.SimpleNamespace(Unpickler=cls, load=load, __name__="molstrata_restricted_pickle")


def check_torch_zip(path: str | Path, *, what: str, opt_in: str | None = None) -> Path:
    """Refuse a legacy (non-zip) torch file or a TorchScript archive; return the path.

    Raises :class:`DataNotFoundError` when ``path`` is not a file and
    :class:`UntrustedFileError` (one line: file, reason, opt-in) otherwise.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError(f"{what} not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != _ZIP_MAGIC:
        raise UntrustedFileError(
            f"{what} {path} is a legacy (non-zip) torch file, which molstrata does not unpickle "
            f"by default (unpickling it can run code){_trust_hint(opt_in)}"
        )
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConfigError(f"cannot read {what} {path}: not a valid zip file ({exc})") from None
    if any(n.rsplit("/", 1)[-1] == "constants.pkl" for n in names):
        raise UntrustedFileError(
            f"{what} {path} is a TorchScript archive (it holds code), which molstrata does not "
            f"load by default{_trust_hint(opt_in)}"
        )
    return path


def _weights_only_reason(message: str) -> str:
    """Why torch's weights-only unpickler refused a file, in a few words, from its message."""
    m = re.search(r"GLOBAL (\S+)", message) or re.search(r"unrecognized function (\S+)", message)
    if m:
        return f"names the Python global {m.group(1)}"
    tail = message.split("WeightsUnpickler error:")[-1].strip().splitlines()
    detail = f" ({tail[0].strip()})" if tail and tail[0].strip() else ""
    return f"holds Python objects beyond tensors{detail}"


def load_tensors(
    path: str | Path,
    *,
    what: str = "checkpoint",
    allow_classes: Iterable[type] = (),
    trust: bool = False,
    opt_in: str | None = None,
) -> Any:
    """Read a zip-format torch file with ``torch.load(weights_only=True)``, on the CPU.

    Parameters
    ----------
    path : a file written by ``torch.save`` (zip format, torch >= 1.6)
    what : what the file is, for messages (``"MiniMol checkpoint"``)
    allow_classes : exact extra classes the file may hold
        (``torch.serialization.safe_globals``), e.g. ``argparse.Namespace``
    trust : read it with the full unpickler (runs any code in it): trusted files only
    opt_in : how the user passes ``trust``, named in the refusals; ``None``: no opt-in

    Returns
    -------
    the saved object: tensors in (nested) dicts, lists, tuples, numbers and strings
    """
    import torch

    if trust:
        path = Path(path).expanduser()
        if not path.is_file():
            raise DataNotFoundError(f"{what} not found: {path}")
        return torch.load(path, map_location="cpu", weights_only=False)
    path = check_torch_zip(path, what=what, opt_in=opt_in)
    extra = list(allow_classes)
    # safe_globals exists from torch 2.5; without extra classes it is not needed
    allowed = torch.serialization.safe_globals(extra) if extra else contextlib.nullcontext()
    try:
        with allowed:
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        why = _weights_only_reason(str(exc))
        raise UntrustedFileError(
            f"{what} {path} is not a tensors-only torch file: it {why}, which molstrata does "
            f"not unpickle by default (unpickling it can run code){_trust_hint(opt_in)}"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot read {what} {path}: {first}") from None


def load_torch_restricted(
    path: str | Path,
    *,
    allow: Iterable[tuple[str, str]],
    what: str = "checkpoint",
    trust: bool = False,
    opt_in: str | None = None,
) -> Any:
    """Read a zip-format torch file whose pickle may name only the pairs in ``allow``.

    Parameters
    ----------
    path : a file written by ``torch.save`` (zip format)
    allow : exact ``(module, qualified name)`` pairs the file may name (no dotted names)
    what : what the file is, for messages
    trust : read it with the full unpickler (runs any code in it): trusted files only
    opt_in : how the user passes ``trust`` (``"trust_checkpoint=True (CLI: --trust-checkpoint)"``),
        named in the refusals

    Returns
    -------
    the saved object, tensors on the CPU
    """
    import torch

    if trust:
        path = Path(path).expanduser()
        if not path.is_file():
            raise DataNotFoundError(f"{what} not found: {path}")
        return torch.load(path, map_location="cpu", weights_only=False)
    module = restricted_pickle_module(allow)
    path = check_torch_zip(path, what=what, opt_in=opt_in)
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=module)
    except UntrustedGlobalError as exc:
        raise UntrustedFileError(
            f"{what} {path} names {exc}, which is not on molstrata's list for this kind of file; "
            "molstrata does not unpickle it by default (unpickling can run code)"
            f"{_trust_hint(opt_in)}"
        ) from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, AttributeError,
            TypeError, ValueError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot read {what} {path}: {first}") from None


def load_pickle_restricted(
    path: str | Path, *, allow: Iterable[tuple[str, str]] = (), what: str = "pickle file"
) -> Any:
    """Read a plain pickle file that may name only the pairs in ``allow`` (default: none,
    i.e. plain data: dicts, lists, tuples, sets, strings, bytes, numbers)."""
    cls = restricted_pickle_module(allow).Unpickler
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError(f"{what} not found: {path}")
    try:
        return cls(io.BytesIO(path.read_bytes())).load()
    except UntrustedGlobalError as exc:
        raise UntrustedFileError(
            f"{what} {path} names {exc}, which molstrata does not unpickle in this file "
            "(unpickling it can run code)"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None
