"""``notes/molecules.csv`` of a run folder: the molecules an encoder could not embed as given.

One row per (encoder, task, molecule) that was invalid (RDKit rejects it; its embedding rows
are NaN and the probes skip it) or truncated (longer than the encoder's maximum length, cut
before embedding). Columns: ``encoder, task, Drug_ID, SMILES, reason``. Written by the probe
and analyze runs; absent when every molecule went through whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["COLUMNS", "NOTES_FILE", "flagged_molecules", "task_molecule_notes", "write_molecule_notes"]

NOTES_FILE = Path("notes") / "molecules.csv"
COLUMNS = ["encoder", "task", "Drug_ID", "SMILES", "reason"]


def flagged_molecules(smiles: Sequence[str], meta: Mapping[str, Any]) -> dict[str, str]:
    """SMILES -> reason for the rows of an embedding that were invalid or truncated.

    ``smiles`` (n,) are the embedded inputs in row order; ``meta`` is the embedding's
    ``meta`` (``invalid_rows``/``invalid_reasons``, ``truncated_rows``, ``max_length``).
    """
    flagged: dict[str, str] = {}
    reasons = list(meta.get("invalid_reasons") or [])
    for k, row in enumerate(meta.get("invalid_rows") or []):
        why = reasons[k] if k < len(reasons) and reasons[k] else "invalid SMILES"
        flagged[smiles[int(row)]] = f"invalid: {why}"
    limit = meta.get("max_length")
    cut = "truncated: longer than " + (f"{limit} tokens" if limit else "the encoder's maximum length")
    for row in meta.get("truncated_rows") or []:
        flagged.setdefault(smiles[int(row)], cut)
    return flagged


def task_molecule_notes(encoder: str, splits: Iterable[Any], flagged: Mapping[str, str]) -> pd.DataFrame:
    """The rows of ``splits`` (TaskSplits) whose SMILES are ``flagged``, once per task and
    molecule: a frame with :data:`COLUMNS`."""
    rows: list[dict[str, Any]] = []
    if flagged:
        for split in splits:
            for part in ("train", "valid", "test"):
                frame = split.part(part)
                hit = frame[frame["Drug"].astype(str).isin(flagged)]
                rows.extend({"encoder": encoder, "task": split.name, "Drug_ID": r.Drug_ID,
                             "SMILES": r.Drug, "reason": flagged[str(r.Drug)]}
                            for r in hit.itertuples(index=False))
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.drop_duplicates(["encoder", "task", "Drug_ID", "SMILES"]).reset_index(drop=True)


def write_molecule_notes(out: str | Path, tables: Sequence[pd.DataFrame]) -> Path | None:
    """Write ``out/notes/molecules.csv`` from ``tables`` (sorted, so reruns give the same
    bytes); remove a stale one and return None when there is nothing to note."""
    path = Path(out) / NOTES_FILE
    frames = [t for t in tables if len(t)]
    if not frames:
        path.unlink(missing_ok=True)
        return None
    table = pd.concat(frames, ignore_index=True).astype({"Drug_ID": str})
    table = table.sort_values(COLUMNS, kind="stable").reset_index(drop=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return path


def drop_invalid(smiles: Sequence[str], ids: Sequence[Any] | None, task: str,
                 source: str | None = None) -> tuple[list[str], pd.DataFrame]:
    """``--on-invalid mask`` for runs that need valid molecules only: the SMILES RDKit
    accepts (in order) and a :data:`COLUMNS` frame of those it rejects (``encoder`` empty;
    ``Drug_ID`` from ``ids``, else the 0-based row)."""
    from molstrata.data.smiles import parse_smiles

    parsed = parse_smiles(list(smiles), on_invalid="mask", source=source)
    bad = [i for i, ok in enumerate(parsed.valid) if not ok]
    table = pd.DataFrame(
        [{"encoder": "", "task": task, "Drug_ID": ids[i] if ids is not None else i,
          "SMILES": smiles[i], "reason": f"invalid: {parsed.reasons[i] or 'invalid SMILES'}"}
         for i in bad], columns=COLUMNS)
    return [s for s, ok in zip(smiles, parsed.valid, strict=True) if ok], table
