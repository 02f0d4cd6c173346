"""TDC ADMET benchmark group: fixed test set plus PyTDC's seeded scaffold train/valid split."""

from __future__ import annotations

import hashlib
import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from molstrata.core.errors import ConfigError, DataNotFoundError
from molstrata.data._registry import ADMET_TASKS
from molstrata.data._source import admet_dir, check_official
from molstrata.data._split import ScaffoldGroups, cached_scaffold_groups, scaffold_split_indices
from molstrata.data._tasksplit import TaskSplit

COLUMNS = ("Drug_ID", "Drug", "Y")
TRAIN_VALID_FRAC = (0.875, 0.125, 0.0)  # PyTDC's get_train_valid_split


def load_admet(name: str, seed: int, data_dir: str | os.PathLike | None = None) -> TaskSplit:
    """Load one TDC ADMET task split for ``seed`` (see :func:`molstrata.data.load_task`)."""
    info = ADMET_TASKS[name]
    folder = admet_dir(data_dir)
    train_val_path = task_file(folder, name, "train_val.csv")
    test_path = task_file(folder, name, "test.csv")

    train_val, groups = _train_val(str(train_val_path), *_stamp(train_val_path), task=name)
    train_idx, valid_idx, _ = scaffold_split_indices(groups, seed, TRAIN_VALID_FRAC)
    test, test_invalid = _test(str(test_path), *_stamp(test_path))

    omitted = train_val.iloc[groups.failed].copy()
    omitted.insert(0, "source_row", groups.failed)
    if len(omitted):
        warnings.warn(
            f"{name}: {len(omitted)} train_val rows have SMILES RDKit rejects; as in PyTDC's "
            f"scaffold split they are in neither train nor valid (rows "
            f"{groups.failed.tolist()[:10]} of {train_val_path}; see TaskSplit.omitted).",
            UserWarning,
            stacklevel=3,
        )
    empty = np.zeros(0, dtype=np.int64)
    return TaskSplit(
        name=name,
        train=train_val.iloc[train_idx].reset_index(drop=True),
        valid=train_val.iloc[valid_idx].reset_index(drop=True),
        test=test.copy(),
        metric=info.metric,
        task_type=info.task_type,
        seed=seed,
        group="admet",
        target_cols=("Y",),
        invalid={"train": empty, "valid": empty, "test": test_invalid.copy()},
        omitted=omitted.reset_index(drop=True),
        sources={"train": (str(train_val_path), np.asarray(train_idx, dtype=np.int64)),
                 "valid": (str(train_val_path), np.asarray(valid_idx, dtype=np.int64)),
                 "test": (str(test_path), np.arange(len(test), dtype=np.int64))},
    )


def task_file(folder: Path, name: str, file: str) -> Path:
    """``folder/name/file``, checked against the official archive; raises if missing."""
    path = folder / name / file
    if not path.is_file():
        raise DataNotFoundError(
            f"{path} is missing: the TDC ADMET folder {folder} has no {file} for task "
            f"{name!r}. Point MOLSTRATA_DATA_DIR / --data-dir at a complete copy."
        )
    check_official(path, name, file)
    return path


def read_task_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a TDC task file as PyTDC does (``pandas.read_csv`` defaults), checking columns."""
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ConfigError(f"{path} is empty (no header row); a TDC task file has columns "
                          f"{list(COLUMNS)}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path} as CSV ({str(exc).strip()})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"{path} lacks column(s) {missing}; a TDC task file has columns "
            f"{list(COLUMNS)} (found {list(frame.columns)})"
        )
    return frame


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=32)
def _train_val(
    path: str, mtime_ns: int, size: int, task: str
) -> tuple[pd.DataFrame, ScaffoldGroups]:
    """The train_val table and its scaffold groups (seed-independent, so cached).

    For the official files the groups come from ``tdc_scaffold_groups.json``, computed with
    the RDKit PyTDC pins, so the split does not depend on the installed RDKit; any other
    file is grouped with the installed RDKit.
    """
    frame = read_task_csv(path)
    raw = Path(path).read_bytes()
    groups = shipped_groups(task, hashlib.sha256(raw).hexdigest())
    if groups is None or groups.n_rows != len(frame):
        groups = cached_scaffold_groups(frame["Drug"].tolist())
    return frame, groups


def shipped_groups(task: str, sha256: str) -> ScaffoldGroups | None:
    """PyTDC's scaffold groups of an official ``train_val.csv``, or ``None`` if not shipped.

    ``tdc_scaffold_groups.json`` holds, per task, the file's sha256 and each row's group
    number (by first appearance; -1 where PyTDC's RDKit raised), written by
    ``tests/fixtures/make_tdc_scaffold_groups.py`` with RDKit 2023.9.6. Each group's rows are
    put in a Python ``set`` in row order, as PyTDC does, so the dealing order is the same.
    """
    entry = _shipped_table().get(task)
    if entry is None or entry["sha256"] != sha256:
        return None
    sets: dict[int, set[int]] = {}
    failed = []
    for row, group in enumerate(entry["groups"]):
        if group < 0:
            failed.append(row)
        else:
            sets.setdefault(group, set()).add(row)
    frozen = tuple(tuple(rows) for rows in sets.values())
    return ScaffoldGroups(frozen, np.asarray(failed, dtype=np.int64), len(entry["groups"]))


@lru_cache(maxsize=1)
def _shipped_table() -> dict:
    import json
    from importlib import resources

    text = resources.files("molstrata.data").joinpath("tdc_scaffold_groups.json").read_text()
    return json.loads(text)["tasks"]


@lru_cache(maxsize=32)
def _test(path: str, mtime_ns: int, size: int) -> tuple[pd.DataFrame, np.ndarray]:
    frame = read_task_csv(path)
    # the rows RDKit rejects (same test as parse_smiles); scaffolds are cached on disk
    return frame, cached_scaffold_groups(frame["Drug"].tolist()).failed
