"""MoleculeNet CSVs and user CSVs: one table, a seeded split, a :class:`TaskSplit`.

Splits
------
``split="scaffold"`` (default) is the same algorithm as the TDC ADMET group (see
:mod:`molstrata.data._split`), with fractions ``(0.8, 0.1, 0.1)``: Bemis-Murcko scaffold
groups, groups larger than half the valid or test size first, each list shuffled with
``random.Random(seed)``, dealt greedily to train, then valid, then test. ``split="random"``
is a ``numpy.random.default_rng(seed)`` permutation.

Invalid SMILES
--------------
``on_invalid="raise"`` (default for user CSVs) raises :class:`InvalidSmilesError` naming
every bad row (0-based data row; the CSV line is row + 2). ``"omit"`` (default for
MoleculeNet, and what PyTDC's scaffold split does) leaves them out of every part and lists
them in ``TaskSplit.omitted`` with a warning. ``"mask"`` keeps them, each as its own
scaffold group, and lists their positions per part in ``TaskSplit.invalid``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from molstrata.core.errors import (
    ConfigError,
    DataNotFoundError,
    InvalidSmilesError,
    LabelError,
    check_choice,
)
from molstrata.core.paths import DATA_ENV, user_data_dir
from molstrata.data._labels import describe_lines
from molstrata.data._registry import MOLECULENET_TASKS, TaskInfo
from molstrata.data._source import data_root
from molstrata.data._split import (
    ScaffoldGroups,
    cached_scaffold_groups,
    random_split_indices,
    scaffold_split_indices,
)
from molstrata.data._tasksplit import TaskSplit
from molstrata.data.smiles import RDKIT_REJECTS, check_smiles

SPLITS = ("scaffold", "random")
ON_INVALID = ("raise", "omit", "mask")
DEFAULT_FRAC = (0.8, 0.1, 0.1)


def moleculenet_file(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of a MoleculeNet task's CSV, under ``<data_dir>/moleculenet/``.

    Raises
    ------
    DataNotFoundError
        The file is not there (MoleculeNet files are not downloaded automatically).
    """
    spec = MOLECULENET_TASKS[name]
    root = data_root(data_dir)
    roots = [root] if root is not None else [user_data_dir()]
    path = roots[0] / "moleculenet" / spec.file
    if not path.is_file():
        raise DataNotFoundError(
            f"{path} not found for task {name!r}. MoleculeNet CSVs are not downloaded "
            f"automatically: set {DATA_ENV} (or pass --data-dir / data_dir=) to a folder "
            f"holding moleculenet/{spec.file}."
        )
    return path


def load_moleculenet(
    name: str,
    seed: int,
    data_dir: str | os.PathLike | None = None,
    *,
    split: str = "scaffold",
    on_invalid: str = "omit",
) -> TaskSplit:
    """Load a MoleculeNet task (see :func:`molstrata.data.load_task`)."""
    spec = MOLECULENET_TASKS[name]
    path = moleculenet_file(name, data_dir)
    frame = _read_csv(str(path), *_stamp(path))
    return split_table(
        frame,
        spec.info,
        seed=seed,
        source=str(path),
        smiles_col=spec.smiles_col,
        target_cols=spec.target_cols,
        id_col=spec.id_col,
        split=split,
        on_invalid=on_invalid,
        allow_missing_labels=True,
        stacklevel=4,  # the caller of load_task
    )


def split_table(
    frame: pd.DataFrame,
    info: TaskInfo,
    *,
    seed: int,
    source: str,
    smiles_col: str,
    target_cols: Sequence[str],
    id_col: str | None,
    split: str = "scaffold",
    frac: Sequence[float] = DEFAULT_FRAC,
    on_invalid: str = "omit",
    allow_missing_labels: bool = True,
    stacklevel: int = 3,
) -> TaskSplit:
    """Split one table (n_molecules rows) into a :class:`TaskSplit`."""
    check_choice("split", split, SPLITS)
    table, groups, bad = prepare_table(frame, info, source=source, smiles_col=smiles_col,
                                  target_cols=target_cols, id_col=id_col, on_invalid=on_invalid,
                                  allow_missing_labels=allow_missing_labels)
    if split == "scaffold":
        parts = scaffold_split_indices(groups, seed, frac)
    else:
        keep = np.setdiff1d(np.arange(len(table)), groups.failed)
        parts = tuple(keep[p] for p in random_split_indices(len(keep), seed, frac))
    return assemble_split(table, groups, parts, info, seed=seed, source=source,
                          target_cols=target_cols, invalid_rows=bad, stacklevel=stacklevel + 1)


def prepare_table(
    frame: pd.DataFrame,
    info: TaskInfo,
    *,
    source: str,
    smiles_col: str,
    target_cols: Sequence[str],
    id_col: str | None,
    on_invalid: str = "omit",
    allow_missing_labels: bool = True,
) -> tuple[pd.DataFrame, ScaffoldGroups, np.ndarray]:
    """The standard table (``Drug_ID``, ``Drug``, targets; n_molecules rows) of ``frame``, its
    scaffold groups and the rows whose SMILES RDKit rejects (ndarray of int, (n_invalid,)),
    after checking columns, labels and SMILES (``on_invalid``)."""
    check_choice("on_invalid", on_invalid, ON_INVALID)
    for col, flag in [(smiles_col, "--smiles-col"), *[(t, "--target-col") for t in target_cols]]:
        if col not in frame.columns:
            raise ConfigError(
                f"column {col!r} ({flag}) not in {source}; columns are {list(frame.columns)}"
            )
    if id_col is not None and id_col not in frame.columns:
        raise ConfigError(f"id column {id_col!r} not in {source}; columns: {list(frame.columns)}")

    table = _standard_table(
        frame, smiles_col, list(target_cols), id_col, info, source, allow_missing_labels
    )
    groups = _groups(source, table["Drug"])
    failed = groups.failed
    if len(failed) and on_invalid == "raise":
        bad = table["Drug"].iloc[failed].tolist()
        reasons = [check_smiles(s) or RDKIT_REJECTS for s in bad]
        raise InvalidSmilesError(failed, bad, source=source, reasons=reasons)
    if on_invalid == "mask" and len(failed):
        groups = ScaffoldGroups(
            groups.groups + tuple((int(i),) for i in failed), np.zeros(0, np.int64), len(table)
        )
    return table, groups, failed


def assemble_split(
    table: pd.DataFrame,
    groups: ScaffoldGroups,
    parts: Sequence[np.ndarray],
    info: TaskInfo,
    *,
    seed: int,
    source: str,
    target_cols: Sequence[str],
    invalid_rows: np.ndarray | None = None,
    stacklevel: int = 3,
) -> TaskSplit:
    """The :class:`TaskSplit` of ``table`` for the row positions ``parts`` (train, valid,
    test); rows whose scaffold failed are listed in ``omitted`` (with a warning), rows in
    ``invalid_rows`` that are kept (``on_invalid="mask"``) in ``invalid``."""
    invalid = {}
    frames = {}
    sources = {}
    bad = set((groups.failed if invalid_rows is None else invalid_rows).tolist())
    for part, rows in zip(("train", "valid", "test"), parts, strict=True):
        frames[part] = table.iloc[rows].reset_index(drop=True)
        sources[part] = (source, np.asarray(rows, dtype=np.int64))
        invalid[part] = np.asarray([k for k, r in enumerate(rows) if r in bad], dtype=np.int64)

    omitted = table.iloc[groups.failed].copy()
    omitted.insert(0, "source_row", groups.failed)
    if len(omitted):
        warnings.warn(
            f"{info.name}: {len(omitted)} rows of {source} have SMILES RDKit rejects and are "
            f"in no part (rows {groups.failed.tolist()[:10]}; see TaskSplit.omitted).",
            UserWarning,
            stacklevel=stacklevel,
        )
    return TaskSplit(
        name=info.name,
        train=frames["train"],
        valid=frames["valid"],
        test=frames["test"],
        metric=info.metric,
        task_type=info.task_type,
        seed=seed,
        group=info.group,
        target_cols=("Y",) if len(target_cols) == 1 else tuple(target_cols),
        invalid=invalid,
        omitted=omitted.reset_index(drop=True),
        sources=sources,
    )


def _standard_table(
    frame: pd.DataFrame,
    smiles_col: str,
    target_cols: list[str],
    id_col: str | None,
    info: TaskInfo,
    source: str,
    allow_missing: bool,
) -> pd.DataFrame:
    if id_col is not None:
        ids = frame[id_col].astype(str).to_numpy()
    else:
        ids = np.arange(len(frame)).astype(str)
    smiles = frame[smiles_col]
    smiles = smiles.where(smiles.notna(), "").astype(str).str.strip()
    table = pd.DataFrame({"Drug_ID": ids, "Drug": smiles.to_numpy()})
    names = ["Y"] if len(target_cols) == 1 else target_cols
    for col, out in zip(target_cols, names, strict=True):
        raw = frame[col]
        values = pd.to_numeric(raw, errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() & raw.notna().to_numpy())
        if len(bad):
            raise LabelError(
                f"task {info.name}: column {col!r} has non-numeric labels, e.g. "
                f"{raw.iloc[bad[0]]!r}, at {describe_lines(source, bad)}"
            )
        missing = np.flatnonzero(values.isna().to_numpy())
        if len(missing) and not allow_missing:
            raise LabelError(
                f"task {info.name}: column {col!r} has missing labels at "
                f"{describe_lines(source, missing)}; drop or fill them"
            )
        if info.task_type == "classification":
            off = np.flatnonzero(values.notna().to_numpy() & ~values.isin([0, 1]).to_numpy())
            if len(off):
                raise LabelError(
                    f"task {info.name}: classification labels must be 0 or 1; column {col!r} "
                    f"has {raw.iloc[off[0]]!r} at {describe_lines(source, off)}"
                )
        table[out] = values.astype(np.float64).to_numpy()
    return table


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=16)
def _read_csv(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    try:
        return pd.read_csv(path, skip_blank_lines=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(f"cannot read {path} as CSV: {exc}") from exc


_GROUP_CACHE: dict[tuple[str, tuple[str, ...]], ScaffoldGroups] = {}


def _groups(source: str, smiles: pd.Series) -> ScaffoldGroups:
    key = (source, tuple(smiles.tolist()))
    if key not in _GROUP_CACHE:
        if len(_GROUP_CACHE) > 16:
            _GROUP_CACHE.clear()
        _GROUP_CACHE[key] = cached_scaffold_groups(list(key[1]))
    return _GROUP_CACHE[key]
