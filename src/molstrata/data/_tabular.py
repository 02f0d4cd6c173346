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
from molstrata.data._metrics import METRICS
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


def load_csv_task(
    path: str | os.PathLike,
    *,
    smiles_col: str = "smiles",
    target_cols: str | Sequence[str] = "Y",
    task_type: str = "regression",
    seed: int = 1,
    split: str = "scaffold",
    frac: Sequence[float] = DEFAULT_FRAC,
    metric: str | None = None,
    id_col: str | None = None,
    on_invalid: str = "raise",
) -> TaskSplit:
    """A task from your own CSV, split by scaffold (default) or at random with ``seed``.

    Parameters
    ----------
    path : path to a CSV file with a header row.
    smiles_col : str, default="smiles"
    target_cols : str or sequence of str, default="Y"
        One label column (the parts get it as ``Y``) or several (kept under their names;
        empty cells are missing labels).
    task_type : {"regression", "classification"}, default="regression"
        Classification labels must be 0/1.
    seed : int, default=1
    split : {"scaffold", "random"}, default="scaffold"
    frac : three floats, default=(0.8, 0.1, 0.1)
        Train, valid and test fractions; they must sum to 1.
    metric : {"mae", "rmse", "spearman", "roc-auc", "pr-auc"}, optional
        Defaults to ``"mae"`` for regression and ``"roc-auc"`` for classification.
    id_col : str, optional
        Column used as ``Drug_ID``; defaults to the 0-based data row number.
    on_invalid : {"raise", "omit", "mask"}, default="raise"
        What to do with SMILES RDKit rejects (see the module docstring).

    Returns
    -------
    TaskSplit
        Named ``"csv:<file stem>"``; parts have columns ``Drug_ID``, ``Drug`` and ``Y`` (or
        the target columns).

    Raises
    ------
    DataNotFoundError, ConfigError, InvalidSmilesError
        Missing file, unknown column / option / bad label (naming rows), or invalid SMILES.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError(f"CSV file {path} not found (--input)")
    check_choice("task_type", task_type, ("regression", "classification"))
    if metric is None:
        metric = "roc-auc" if task_type == "classification" else "mae"
    check_choice("metric", metric, METRICS)
    targets = (target_cols,) if isinstance(target_cols, str) else tuple(target_cols)
    if not targets:
        raise ConfigError("target_cols is empty; name at least one label column (--target-col)")
    frac = tuple(float(f) for f in frac)
    if len(frac) != 3 or min(frac) < 0 or abs(sum(frac) - 1.0) > 1e-6 or frac[0] == 0:
        raise ConfigError(f"frac must be three non-negative fractions summing to 1, got {frac}")
    frame = _read_csv(str(path), *_stamp(path))
    info = TaskInfo(f"csv:{path.stem}", "csv", task_type, metric)
    return split_table(
        frame,
        info,
        seed=seed,
        source=str(path),
        smiles_col=smiles_col,
        target_cols=targets,
        id_col=id_col,
        split=split,
        frac=frac,
        on_invalid=on_invalid,
        allow_missing_labels=len(targets) > 1,
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
    if split == "scaffold":
        parts = scaffold_split_indices(groups, seed, frac)
    else:
        keep = np.setdiff1d(np.arange(len(table)), groups.failed)
        parts = tuple(keep[p] for p in random_split_indices(len(keep), seed, frac))

    invalid = {}
    frames = {}
    sources = {}
    bad = set(failed.tolist())
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


def _standard_table(frame, smiles_col, target_cols, id_col, info, source, allow_missing):
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
