"""SMILES parsing and validation, done once, with a validity mask (rows never shift).

Every SMILES molstrata reads goes through :func:`parse_smiles` (or :func:`canonicalize`),
which first applies :func:`check_smiles`. RDKit reads some strings only by reading a
*different* molecule: it stops at the first whitespace (``"CC O"`` is read as ``CC``,
``"c1ccccc1 junk"`` as benzene) and skips characters it does not know (``"😀CC"`` is read as
``CC``, the Cyrillic lookalike ``"ССO"`` as ``O``). Such strings are invalid here, with the
reason:

- a non-ASCII character (with its position and Unicode name);
- a control character (tab, newline, NUL, ... inside the string);
- internal whitespace, i.e. text after a space (RDKit would read only what comes before).

Leading and trailing ASCII whitespace (``" \\t\\r\\n\\f\\v"``) is stripped first, so ``"CCO\\n"``
from a file is ``CCO``; the strings you passed are kept unchanged in
:attr:`ParsedSmiles.smiles`. ``bytes`` rows are decoded as UTF-8 (a row that does not decode
is invalid, with the reason); any other non-string row (``None``, NaN, numbers) is invalid.
A bare ``str`` or ``bytes`` where a sequence of SMILES is expected raises
:class:`~molstrata.core.errors.InputTypeError` (it would otherwise be read as one molecule
per character).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from molstrata.core.errors import InputTypeError, InvalidSmilesError, check_choice

ASCII_WHITESPACE = " \t\r\n\f\v"
RDKIT_REJECTS = "RDKit cannot parse it"


@dataclass(frozen=True)
class ParsedSmiles:
    """The result of parsing a list of SMILES.

    Attributes
    ----------
    smiles : tuple of str, length n, the inputs unchanged (bytes decoded; non-strings as ``str``)
    canonical : tuple of str, length n, RDKit canonical SMILES ("" where invalid)
    valid : ndarray of bool, shape (n,)
    reasons : tuple of str, length n, why each row is invalid ("" where valid)
    """

    smiles: tuple[str, ...]
    canonical: tuple[str, ...]
    valid: np.ndarray
    reasons: tuple[str, ...] = ()

    @property
    def invalid_indices(self) -> np.ndarray:
        """Row positions (0-based) of the SMILES that failed, shape (n_invalid,)."""
        return np.flatnonzero(~self.valid)

    @property
    def invalid_reasons(self) -> dict[int, str]:
        """Row position (0-based) -> why that row is invalid, for every invalid row."""
        reasons = self.reasons or ("",) * len(self.smiles)
        return {int(i): reasons[i] or RDKIT_REJECTS for i in self.invalid_indices}


def check_smiles(smiles: str) -> str | None:
    """Why ``smiles`` would be misread by RDKit, or ``None`` when it may be parsed.

    Checks the string after stripping leading/trailing ASCII whitespace; positions are
    0-based in the string as given. Does not call RDKit.

    Examples
    --------
    >>> check_smiles("CC O")
    "internal whitespace at position 2; RDKit would read only 'CC' and ignore 'O'"
    >>> check_smiles(" CCO\\n") is None
    True
    """
    if not isinstance(smiles, str):
        return f"not a string ({type(smiles).__name__})"
    offset = len(smiles) - len(smiles.lstrip(ASCII_WHITESPACE))
    text = smiles.strip(ASCII_WHITESPACE)
    if not text:
        return "empty string"
    for k, ch in enumerate(text):
        code = ord(ch)
        if code > 127:
            name = unicodedata.name(ch, "unnamed")
            return f"non-ASCII character {ch!r} (U+{code:04X} {name}) at position {offset + k}"
        if ch in ASCII_WHITESPACE:
            return (
                f"internal whitespace at position {offset + k}; RDKit would read only "
                f"{text[:k]!r} and ignore {text[k:].strip(ASCII_WHITESPACE)!r}"
            )
        if code < 32 or code == 127:
            return f"control character {ch!r} at position {offset + k}"
    return None


def _as_text(item: object) -> tuple[str, str | None]:
    """A row as text, and why it is invalid before any SMILES check (or ``None``)."""
    if isinstance(item, str):
        return str(item), None
    if isinstance(item, (bytes, bytearray)):
        try:
            return bytes(item).decode("utf-8"), None
        except UnicodeDecodeError as exc:
            text = bytes(item).decode("utf-8", errors="replace")
            return text, f"bytes that are not valid UTF-8 (at byte {exc.start})"
    if item is None:
        return "", "missing (None)"
    return str(item), f"not a string ({type(item).__name__} {item!r})"


def check_sequence(smiles: object, name: str = "smiles") -> None:
    """Raise :class:`InputTypeError` unless ``smiles`` is a sequence of rows (not one string)."""
    if isinstance(smiles, (str, bytes, bytearray)):
        raise InputTypeError(
            f"{name} must be a sequence of SMILES strings, got a single {type(smiles).__name__} "
            f"{smiles[:40]!r}; wrap it in a list: [{smiles[:40]!r}]"
        )
    if not isinstance(smiles, Iterable):
        raise InputTypeError(
            f"{name} must be a sequence of SMILES strings, got {type(smiles).__name__}"
        )


def _canonical(text: str) -> tuple[str | None, str]:
    """RDKit canonical SMILES of a checked string (or ``None``) and the reason it failed."""
    from rdkit import Chem, RDLogger

    reason = check_smiles(text)
    if reason is not None:
        return None, reason
    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(text.strip(ASCII_WHITESPACE))
    if mol is None:
        return None, RDKIT_REJECTS
    return Chem.MolToSmiles(mol), ""


def canonicalize(smiles: str) -> str | None:
    """RDKit canonical SMILES, or ``None`` when :func:`check_smiles` flags it or RDKit rejects it."""
    if not isinstance(smiles, str):
        return None
    return _canonical(smiles)[0]


def parse_smiles(
    smiles: Iterable[str], *, on_invalid: str = "raise", source: str | None = None
) -> ParsedSmiles:
    """Check, parse and canonicalise ``smiles`` with RDKit.

    Parameters
    ----------
    smiles : sequence of str (or UTF-8 bytes), length n; a bare str/bytes raises
        :class:`~molstrata.core.errors.InputTypeError`
    on_invalid : ``"raise"`` (default) raises :class:`InvalidSmilesError` listing every bad row
        with its reason; ``"mask"`` keeps them with ``valid[i] = False`` and the reason in
        ``reasons[i]``.
    source : where the rows come from, for the error message.

    Returns
    -------
    ParsedSmiles with n rows, in input order.
    """
    check_choice("on_invalid", on_invalid, ("raise", "mask"))
    check_sequence(smiles)
    items: list[str] = []
    canon: list[str] = []
    reasons: list[str] = []
    for item in smiles:
        text, reason = _as_text(item)
        c, why = (None, reason) if reason is not None else _canonical(text)
        items.append(text)
        canon.append(c or "")
        reasons.append("" if c is not None else why)
    return _parsed(items, canon, reasons, on_invalid=on_invalid, source=source)


def _parsed(items: list[str], canon: list[str], reasons: list[str], *, on_invalid: str,
            source: str | None) -> ParsedSmiles:
    """The :class:`ParsedSmiles` of checked rows (each a list of length n), or
    :class:`InvalidSmilesError` listing the invalid ones when ``on_invalid="raise"``."""
    valid = np.array([not r for r in reasons], dtype=bool)
    if on_invalid == "raise" and not valid.all():
        bad = np.flatnonzero(~valid)
        raise InvalidSmilesError(
            bad, [items[i] for i in bad], source=source, reasons=[reasons[i] for i in bad]
        )
    return ParsedSmiles(tuple(items), tuple(canon), valid, tuple(reasons))
