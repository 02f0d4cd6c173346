"""Exceptions raised by molstrata.

Every user-facing error subclasses :class:`MolstrataError`; the CLI prints those without a
traceback. Specific errors also subclass the matching builtin (``ValueError``, ``ImportError``,
``FileNotFoundError``) so callers may catch broadly or precisely, as in scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence


class MolstrataError(Exception):
    """Base class of every error molstrata raises on purpose."""


class ConfigError(MolstrataError, ValueError):
    """An option, flag or config value is invalid; the message names it and the valid choices."""


class DataNotFoundError(MolstrataError, FileNotFoundError):
    """A data file or folder is missing and could not be downloaded."""


class ChecksumError(MolstrataError, ValueError):
    """A downloaded or cached file does not have the expected hash."""


class OptionalDependencyError(MolstrataError, ImportError):
    """An optional extra is needed; the message gives the ``pip install`` line."""


class InvalidSmilesError(MolstrataError, ValueError):
    """Some input SMILES could not be parsed.

    Attributes
    ----------
    indices : list of int
        Row positions (0-based, in input order) of the SMILES that failed.
    smiles : list of str
        The offending strings, aligned with ``indices``.
    source : str or None
        Where the rows came from (a file, a task), when known.
    reasons : list of str
        Why each row is invalid, aligned with ``indices`` (e.g. ``"internal whitespace at
        position 2; RDKit would read only 'CC'"``).
    lines : list of int or None
        1-based line numbers in the file ``source`` (header = line 1), aligned with
        ``indices``, when the rows came from a CSV; the message then names lines, not rows.
    """

    def __init__(
        self,
        indices: Sequence[int],
        smiles: Sequence[str],
        source: str | None = None,
        reasons: Sequence[str] | None = None,
        lines: Sequence[int] | None = None,
        fix: str = "pass on_invalid='mask'",
    ):
        self.indices = [int(i) for i in indices]
        self.smiles = [str(s) for s in smiles]
        self.source = source
        self.reasons = [str(r) for r in reasons] if reasons is not None else [""] * len(self.indices)
        self.lines = [int(n) for n in lines] if lines is not None else None
        where_rows = ([f"line {n}" for n in self.lines] if self.lines is not None
                      else [f"row {i}" for i in self.indices])
        rows = list(zip(where_rows, self.smiles, self.reasons, strict=True))[:10]
        shown = ", ".join(f"{w}: {s!r}" + (f" ({r})" if r else "") for w, s, r in rows)
        more = f" (and {len(self.indices) - 10} more)" if len(self.indices) > 10 else ""
        where = f" in {source}" if source else ""
        super().__init__(
            f"{len(self.indices)} invalid SMILES{where}: {shown}{more}. "
            f"Fix them, or {fix} to keep NaN rows with a validity mask."
        )


class InputTypeError(MolstrataError, TypeError):
    """An argument has the wrong type, e.g. one SMILES string where a sequence is expected."""


class LabelError(MolstrataError, ValueError):
    """Task labels cannot be used as they are (missing, non-numeric, a single class, constant).

    The message names the task, the file and its 1-based line numbers (header = line 1).
    """


class NotFittedError(MolstrataError, ValueError):
    """A probe or model was used before ``fit``."""


def check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``, naming them all."""
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"invalid {name} {value!r}; valid choices: {valid}")


class StorageError(MolstrataError, OSError):
    """A file or folder could not be written (read-only, not a folder, disk full...).

    The message is one line naming the path and the fix.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
