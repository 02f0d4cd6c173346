"""SMILES parsing and validation, done once, with a validity mask (rows never shift)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from molstrata.core.errors import InvalidSmilesError, check_choice


@dataclass(frozen=True)
class ParsedSmiles:
    """The result of parsing a list of SMILES.

    Attributes
    ----------
    smiles : tuple of str, length n, the inputs unchanged
    canonical : tuple of str, length n, RDKit canonical SMILES ("" where invalid)
    valid : ndarray of bool, shape (n,)
    """

    smiles: tuple[str, ...]
    canonical: tuple[str, ...]
    valid: np.ndarray

    @property
    def invalid_indices(self) -> np.ndarray:
        """Row positions (0-based) of the SMILES that failed, shape (n_invalid,)."""
        return np.flatnonzero(~self.valid)


def canonicalize(smiles: str) -> str | None:
    """RDKit canonical SMILES, or ``None`` when RDKit rejects the string."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    if not isinstance(smiles, str) or not smiles.strip():
        return None
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    return Chem.MolToSmiles(mol)


def parse_smiles(
    smiles: Sequence[str], *, on_invalid: str = "raise", source: str | None = None
) -> ParsedSmiles:
    """Parse and canonicalise ``smiles`` with RDKit.

    Parameters
    ----------
    smiles : sequence of str, length n
    on_invalid : ``"raise"`` (default) raises :class:`InvalidSmilesError` listing every bad row;
        ``"mask"`` keeps them with ``valid[i] = False``.
    source : where the rows come from, for the error message.
    """
    check_choice("on_invalid", on_invalid, ("raise", "mask"))
    items = tuple("" if s is None else str(s) for s in smiles)
    canon = [canonicalize(s) for s in items]
    valid = np.array([c is not None for c in canon], dtype=bool)
    if on_invalid == "raise" and not valid.all():
        bad = np.flatnonzero(~valid)
        raise InvalidSmilesError(bad, [items[i] for i in bad], source=source)
    return ParsedSmiles(items, tuple(c or "" for c in canon), valid)
