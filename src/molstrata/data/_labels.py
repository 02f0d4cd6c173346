"""Label checks with file line numbers: missing, non-numeric, single-class and constant labels.

Every message names the task, the file and its **1-based line numbers** (the header is line
1, so the first data row is line 2; blank lines and multi-line quoted fields are counted as
the CSV reader sees them). :meth:`TaskSplit.check_labels` runs these checks; the probe
runner, ``finetune`` and :func:`molstrata.probe.probe` call it before computing anything.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from molstrata.core.errors import LabelError

if TYPE_CHECKING:
    from molstrata.data._tasksplit import TaskSplit

SHOWN = 10  # line numbers listed in a message


def file_lines(path: str, rows: Sequence[int] | np.ndarray) -> np.ndarray:
    """1-based line numbers in the CSV ``path`` of its 0-based data ``rows``.

    The header is line 1. Blank lines are skipped as ``pandas.read_csv`` does; a quoted field
    spanning lines is counted whole. If the file cannot be read, ``row + 2`` is returned.

    Returns
    -------
    ndarray of int64, shape (len(rows),)
    """
    rows = np.asarray(rows, dtype=np.int64)
    try:
        starts: list[int] = []
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle)
            previous = 0
            for record in reader:
                start, previous = previous + 1, reader.line_num
                if record:  # not a blank line
                    starts.append(start)
        data = np.asarray(starts[1:], dtype=np.int64)  # starts[0] is the header
        if len(rows) and rows.max() >= len(data):
            return rows + 2
        return data[rows]
    except (OSError, csv.Error):
        return rows + 2


def _where(split: TaskSplit, part: str, positions: np.ndarray) -> str:
    """``"file F lines 2, 5"`` (or ``"test rows 0, 3 (0-based)"`` without a known file)."""
    source = split.sources.get(part) if split.sources else None
    positions = np.asarray(positions, dtype=np.int64)
    if source is None:
        more = f" (and {len(positions) - SHOWN} more)" if len(positions) > SHOWN else ""
        shown = ", ".join(str(int(p)) for p in positions[:SHOWN])
        return f"{part} rows {shown}{more} (0-based; file unknown)"
    path, rows = source
    return describe_lines(path, np.asarray(rows)[positions])


def describe_lines(path: str, rows: Sequence[int] | np.ndarray) -> str:
    """``"<path> lines 3, 4"``: the file lines (1-based, header = line 1) of data ``rows``
    (``"DataFrame rows 1, 2 (0-based)"`` when ``path`` is not a file)."""
    rows = np.asarray(rows, dtype=np.int64)
    more = f" (and {len(rows) - SHOWN} more)" if len(rows) > SHOWN else ""
    if not os.path.isfile(path):  # a DataFrame: its 0-based row positions
        word = "row" if len(rows) == 1 else "rows"
        return f"{path} {word} {', '.join(str(int(n)) for n in rows[:SHOWN])}{more} (0-based)"
    lines = file_lines(path, rows[:SHOWN])
    word = "line" if len(rows) == 1 else "lines"
    return f"{path} {word} {', '.join(str(int(n)) for n in lines)}{more}"


def _column(split: TaskSplit, part: str, col: str) -> tuple[np.ndarray, pd.Series]:
    raw = split.part(part)[col]
    return pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64), raw


def check_labels(split: TaskSplit) -> None:
    """Raise :class:`LabelError` unless every label of ``split`` can be used.

    Single-target tasks: every label is a finite number (no NaN, empty cell or text); a
    classification task has labels 0/1 and both classes in train, valid and test (ROC-AUC
    and PR-AUC are undefined otherwise); regression targets are not all equal in train (nor
    in valid/test when the metric is Spearman). Multi-target tasks may have missing labels
    (MoleculeNet); their labels must be numbers and finite where present. Each part must
    have rows.
    """
    name = split.name
    for part in ("train", "valid", "test"):
        if len(split.part(part)) == 0:
            sizes = ", ".join(f"{p} {len(split.part(p))}" for p in ("train", "valid", "test"))
            raise LabelError(f"task {name}: the {part} part has no rows ({sizes}){_in(split, 'train')}; "
                             "too few rows for this split: add rows, or give the parts with "
                             "--split column:NAME")
        for col in split.target_cols:
            values, raw = _column(split, part, col)
            text = np.flatnonzero(np.isnan(values) & raw.notna().to_numpy())
            if len(text):
                raise LabelError(
                    f"task {name}: non-numeric {part} label {raw.iloc[text[0]]!r} in column "
                    f"{col!r} at {_where(split, part, text)}"
                )
            infinite = np.flatnonzero(np.isinf(values))
            if len(infinite):
                raise LabelError(
                    f"task {name}: infinite {part} label in column {col!r} at "
                    f"{_where(split, part, infinite)}"
                )
            missing = np.flatnonzero(np.isnan(values))
            if split.n_tasks == 1 and len(missing):
                raise LabelError(
                    f"task {name}: {len(missing)} {part} label(s) missing (empty or NaN) in "
                    f"column {col!r} at {_where(split, part, missing)}; fill or drop those rows"
                )
    if split.n_tasks != 1:
        return
    col = split.target_cols[0]
    for part in ("train", "valid", "test"):
        values, _ = _column(split, part, col)
        classes = np.unique(values)
        if split.task_type == "classification":
            off = np.flatnonzero(~np.isin(values, (0.0, 1.0)))
            if len(off):
                raise LabelError(
                    f"task {name}: classification labels must be 0 or 1; {part} label "
                    f"{values[off[0]]!r} at {_where(split, part, off)}"
                )
            if len(classes) < 2:
                raise LabelError(
                    f"task {name}: every {part} label is {classes[0]:g} (a single class"
                    f"{_in(split, part)}); {split.metric} and a classifier need both classes"
                    " 0 and 1"
                )
        elif len(classes) < 2 and (part == "train" or split.metric == "spearman"):
            use = "a probe cannot be fitted" if part == "train" else "Spearman is undefined"
            if len(values) < 2:
                use += "; too few rows for this split"
            raise LabelError(
                f"task {name}: all {len(values)} {part} targets equal {classes[0]:g}"
                f"{_in(split, part)}; {use}"
            )


def _in(split: TaskSplit, part: str) -> str:
    """``" in <file>"`` for a part read from a file, else ``""``."""
    source = split.sources.get(part) if split.sources else None
    return f" in {source[0]}" if source is not None else ""

