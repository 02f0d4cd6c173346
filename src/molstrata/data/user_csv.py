"""The one reader of a user CSV's SMILES column (``--input`` of ``embed`` and ``analyze``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from molstrata.core.errors import ConfigError, DataNotFoundError

#: column names tried, in order, when no ``--smiles-col`` is given
SMILES_COLUMNS = ("smiles", "SMILES", "Smiles", "Drug", "canonical_smiles", "mol")


def read_smiles_csv(
    path: str | Path, smiles_col: str | None = None, id_col: str | None = None
) -> tuple[list[str], list[str] | None, str]:
    """SMILES (and ids) of a CSV; returns ``(smiles, ids, smiles_column)``.

    Without ``smiles_col`` the first of :data:`SMILES_COLUMNS` found is used. Cells are read
    as text; empty cells are kept (they become invalid rows, in file order).

    Returns
    -------
    smiles : list of str, one per data row (length n_rows)
    ids : list of str (n_rows,) from ``id_col``, or None without it
    smiles_column : the column read
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"--input {path}: no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ConfigError(f"--input {path} is empty (no header row); expected a CSV with a "
                          f"SMILES column") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--input {path}: cannot read it as CSV ({str(exc).strip()})") from None
    columns = ", ".join(map(str, frame.columns))
    if smiles_col is None:
        found = [c for c in SMILES_COLUMNS if c in frame.columns]
        if not found:
            raise ConfigError(
                f"--input {path}: no SMILES column among {', '.join(SMILES_COLUMNS)}; pass "
                f"--smiles-col (columns: {columns})"
            )
        smiles_col = found[0]
    elif smiles_col not in frame.columns:
        raise ConfigError(f"--smiles-col {smiles_col!r} is not a column of {path} (columns: {columns})")
    if id_col is not None and id_col not in frame.columns:
        raise ConfigError(f"--id-col {id_col!r} is not a column of {path} (columns: {columns})")
    if frame.empty:
        raise ConfigError(f"--input {path} has no rows")
    ids = frame[id_col].tolist() if id_col else None
    return frame[smiles_col].tolist(), ids, smiles_col
