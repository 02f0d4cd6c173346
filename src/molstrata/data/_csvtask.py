"""Your own labelled CSV (or DataFrame) as a task, split with a fixed test set as TDC does.

Protocol
--------
TDC's ADMET group fixes each task's test set once and re-draws train/valid from the rest
for every seed. A user task does the same:

- ``split="scaffold"`` (default): the test set is the test part of a Bemis-Murcko scaffold
  split of the whole table (:func:`molstrata.data._split.scaffold_split_indices`, fractions
  ``frac``, default ``(0.8, 0.1, 0.1)``) drawn with the fixed seed :data:`TEST_SEED` (0),
  whatever ``seed`` is. For each ``seed``, train/valid are a scaffold split of the remaining
  rows with fractions ``frac[0] : frac[1]`` (PyTDC's ``get_train_valid_split``, which uses
  7 : 1).
- ``split="random"``: the test set is the last ``n - int(n * frac[0]) - int(n * frac[1])``
  rows of ``numpy.random.default_rng(TEST_SEED).permutation(n)``; for each ``seed``,
  ``default_rng(seed)`` permutes the rest, the first ``int(n * frac[0])`` rows train.
- ``split="column:NAME"``: the column ``NAME`` says ``train``, ``valid`` or ``test`` for each
  row (case and surrounding spaces ignored). With all three values the split is the user's,
  for every seed (seeds then seed only the probes); with ``train`` and ``test`` only, valid
  is re-drawn from the train rows per seed by scaffold, as above.

The metric is ``metric``, else ``mae`` for regression (TDC's metric for most of its
regression tasks) and ``roc-auc`` for classification. The task is named after the file's
stem (lower case, characters other than letters, digits, ``.``, ``_``, ``-`` replaced by
``_``) unless ``name`` is given; names are used in file names and may not be those of a
registered task.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molstrata.core.errors import ConfigError, DataNotFoundError, check_choice
from molstrata.data._labels import describe_lines
from molstrata.data._metrics import METRICS
from molstrata.data._registry import ADMET_TASKS, MOLECULENET_TASKS, TaskInfo
from molstrata.data._split import ScaffoldGroups, random_split_indices, scaffold_split_indices
from molstrata.data._tabular import (
    DEFAULT_FRAC,
    ON_INVALID,
    _read_csv,
    _stamp,
    assemble_split,
    prepare_table,
)
from molstrata.data._tasksplit import TaskSplit

#: seed of the fixed test set of a user task (never one of the ``--seeds``)
TEST_SEED = 0
SPLIT_VALUES = ("train", "valid", "test")
TASK_TYPES = ("regression", "classification")
_SAFE = re.compile(r"[a-z0-9][a-z0-9._-]*")


def default_metric(task_type: str) -> str:
    """``"mae"`` for regression, ``"roc-auc"`` for classification."""
    return "roc-auc" if task_type == "classification" else "mae"


def task_name_from(stem: str) -> str:
    """A file-name-safe task name from a file stem: ``"My assay (v2)"`` -> ``"my_assay_v2"``."""
    return re.sub(r"[^a-z0-9._-]+", "_", stem.lower()).strip("._-") or "csv_task"


@dataclass(frozen=True, eq=False)
class CsvTask:
    """A labelled table as a task; :meth:`load` splits it for one seed (module docstring).

    Build it with :func:`csv_task`, which checks every option. ``source`` is a CSV path or
    a pandas DataFrame (n_molecules rows).
    """

    source: Path | pd.DataFrame
    name: str
    smiles_col: str
    target_cols: tuple[str, ...]
    task_type: str
    metric: str
    id_col: str | None
    split: str
    frac: tuple[float, float, float]
    on_invalid: str

    @property
    def label(self) -> str:
        """How messages name the source: the file path, or ``"DataFrame"``."""
        return str(self.source) if isinstance(self.source, Path) else "DataFrame"

    def settings(self) -> dict[str, Any]:
        """The options that define the task (JSON-able), for run records: the file's name,
        not its folder (its sha256 is an input of the run, as TDC's files are)."""
        source = self.source.name if isinstance(self.source, Path) else self.label
        return {"input": source, "smiles_col": self.smiles_col,
                "target_cols": list(self.target_cols), "task_type": self.task_type,
                "metric": self.metric, "id_col": self.id_col, "split": self.split,
                "frac": list(self.frac), "test_seed": TEST_SEED}

    def frame(self) -> pd.DataFrame:
        """The table as read (n_rows rows)."""
        if isinstance(self.source, pd.DataFrame):
            return self.source.reset_index(drop=True)
        return _read_csv(str(self.source), *_stamp(self.source))

    def load(self, seed: int = 1) -> TaskSplit:
        """The split for ``seed`` (fixed test set, train/valid drawn with ``seed``).

        Raises
        ------
        ConfigError, LabelError, InvalidSmilesError
            A missing column, a bad label or split value (naming the file and its line), an
            invalid SMILES, or too few rows for the split.
        """
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise ConfigError(f"seed must be an integer, got {seed!r}")
        frame = self.frame()
        info = TaskInfo(self.name, "csv", self.task_type, self.metric)
        table, groups, bad = prepare_table(
            frame, info, source=self.label, smiles_col=self.smiles_col,
            target_cols=self.target_cols, id_col=self.id_col, on_invalid=self.on_invalid,
            allow_missing_labels=len(self.target_cols) > 1,
        )
        if self.split.startswith("column:"):
            parts = self._column_parts(frame, groups, int(seed))
        elif self.split == "random":
            parts = self._random_parts(len(table), groups, int(seed))
        else:
            parts = self._scaffold_parts(groups, int(seed))
        return assemble_split(table, groups, parts, info, seed=int(seed), source=self.label,
                              target_cols=self.target_cols, invalid_rows=bad, stacklevel=3)

    def _train_valid(self, groups: ScaffoldGroups, rows: np.ndarray, seed: int):
        """Scaffold split of ``rows`` into train/valid (``frac[0] : frac[1]``) for ``seed``."""
        keep = set(rows.tolist())
        sub = tuple(g for g in (tuple(r for r in grp if r in keep) for grp in groups.groups) if g)
        total = self.frac[0] + self.frac[1]
        train, valid, _ = scaffold_split_indices(
            ScaffoldGroups(sub, np.zeros(0, np.int64), len(rows)), seed,
            (self.frac[0] / total, self.frac[1] / total, 0.0))
        return train, valid

    def _scaffold_parts(self, groups: ScaffoldGroups, seed: int):
        train, valid, test = scaffold_split_indices(groups, TEST_SEED, self.frac)
        train, valid = self._train_valid(groups, np.concatenate([train, valid]), seed)
        return train, valid, test

    def _random_parts(self, n_rows: int, groups: ScaffoldGroups, seed: int):
        keep = np.setdiff1d(np.arange(n_rows), groups.failed)
        n_train = int(len(keep) * self.frac[0])
        _, _, test = random_split_indices(len(keep), TEST_SEED, self.frac)
        rest = np.setdiff1d(np.arange(len(keep)), test)
        rest = rest[np.random.default_rng(seed).permutation(len(rest))]
        return keep[rest[:n_train]], keep[rest[n_train:]], keep[test]

    def _column_parts(self, frame: pd.DataFrame, groups: ScaffoldGroups, seed: int):
        col = self.split.split(":", 1)[1]
        if col not in frame.columns:
            raise ConfigError(f"--split column:{col}: no column {col!r} in {self.label}; "
                              f"columns are {list(frame.columns)}")
        values = frame[col].astype("string").str.strip().str.lower().fillna("")
        off = np.flatnonzero(~values.isin(SPLIT_VALUES).to_numpy())
        if len(off):
            raise ConfigError(
                f"--split column:{col}: value {frame[col].iloc[off[0]]!r} at "
                f"{describe_lines(self.label, off)}; each row must say train, valid or test")
        failed = set(groups.failed.tolist())
        rows = {v: np.asarray([r for r in np.flatnonzero((values == v).to_numpy())
                               if r not in failed], dtype=np.int64) for v in SPLIT_VALUES}
        if len(rows["valid"]) == 0:  # train/test given: valid re-drawn per seed
            rows["train"], rows["valid"] = self._train_valid(groups, rows["train"], seed)
        return rows["train"], rows["valid"], rows["test"]


def csv_task(
    source: str | os.PathLike | pd.DataFrame,
    *,
    smiles_col: str = "smiles",
    target_cols: str | Sequence[str] = "Y",
    task_type: str = "regression",
    split: str = "scaffold",
    frac: Sequence[float] = DEFAULT_FRAC,
    metric: str | None = None,
    id_col: str | None = None,
    on_invalid: str = "raise",
    name: str | None = None,
) -> CsvTask:
    """A checked :class:`CsvTask` (options as :func:`load_csv_task`); nothing is split yet.

    Raises
    ------
    DataNotFoundError
        No such file (``--input``).
    ConfigError
        An unknown option value, an unsafe or registered task name.
    """
    if isinstance(source, pd.DataFrame):
        src: Path | pd.DataFrame = source
        stem = "dataframe"
    else:
        src = Path(source).expanduser()
        if not src.is_file():
            raise DataNotFoundError(f"CSV file {src} not found (--input)")
        stem = src.stem
    check_choice("task_type (--task-type)", task_type, TASK_TYPES)
    metric = default_metric(task_type) if metric is None else metric
    check_choice("metric (--metric)", metric, METRICS)
    check_choice("on_invalid", on_invalid, ON_INVALID)
    if not (split in ("scaffold", "random") or (split.startswith("column:") and len(split) > 7)):
        raise ConfigError(f"invalid split (--split) {split!r}; valid choices: 'scaffold', "
                          "'random', 'column:NAME' (a column saying train/valid/test per row)")
    targets = (target_cols,) if isinstance(target_cols, str) else tuple(target_cols)
    if not targets:
        raise ConfigError("target_cols is empty; name at least one label column (--target-col)")
    fr = tuple(float(f) for f in frac)
    if len(fr) != 3 or min(fr) < 0 or abs(sum(fr) - 1.0) > 1e-6 or fr[0] == 0 or fr[1] == 0:
        raise ConfigError(f"frac must be three non-negative fractions summing to 1, got {fr}")
    task = _check_name(name, stem)
    return CsvTask(src, task, smiles_col, targets, task_type, metric, id_col, split, fr,  # type: ignore[arg-type]
                   on_invalid)


def _check_name(name: str | None, stem: str) -> str:
    task = task_name_from(stem) if name is None else name
    if not _SAFE.fullmatch(task):
        raise ConfigError(f"task name (--task-name) {task!r} is not safe as a file name; use "
                          f"lower-case letters, digits, '.', '_' and '-', e.g. {task_name_from(task)!r}")
    if task in ADMET_TASKS or task in MOLECULENET_TASKS or task in ("admet", "moleculenet"):
        raise ConfigError(f"task name {task!r} is a registered task's; name yours with "
                          "--task-name (task_name=)")
    return task


def load_csv_task(
    path: str | os.PathLike | pd.DataFrame,
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
    name: str | None = None,
) -> TaskSplit:
    """A task from your own CSV (or DataFrame): a fixed test set, train/valid drawn with ``seed``.

    Parameters
    ----------
    path : path to a CSV file with a header row, or a pandas DataFrame (n_rows rows).
    smiles_col : str, default="smiles"
    target_cols : str or sequence of str, default="Y"
        One label column (the parts get it as ``Y``) or several (kept under their names;
        empty cells are missing labels).
    task_type : {"regression", "classification"}, default="regression"
        Classification labels must be 0/1.
    seed : int, default=1
        Draws train/valid; the test set is fixed (see the module docstring).
    split : {"scaffold", "random", "column:NAME"}, default="scaffold"
    frac : three floats, default=(0.8, 0.1, 0.1)
        Train, valid and test fractions; they must sum to 1.
    metric : {"mae", "rmse", "spearman", "roc-auc", "pr-auc"}, optional
        Defaults to ``"mae"`` for regression and ``"roc-auc"`` for classification.
    id_col : str, optional
        Column used as ``Drug_ID``; defaults to the 0-based data row number.
    on_invalid : {"raise", "omit", "mask"}, default="raise"
        What to do with SMILES RDKit rejects (see :mod:`molstrata.data._tabular`).
    name : str, optional
        The task's name in outputs (default: from the file stem; ``"dataframe"``).

    Returns
    -------
    TaskSplit
        Group ``"csv"``; parts have columns ``Drug_ID``, ``Drug`` and ``Y`` (or the target
        columns).

    Raises
    ------
    DataNotFoundError, ConfigError, LabelError, InvalidSmilesError
        Missing file; unknown column, option or split value, too few rows; a bad label
        (naming the file and its lines); invalid SMILES.
    """
    return csv_task(path, smiles_col=smiles_col, target_cols=target_cols, task_type=task_type,
                    split=split, frac=frac, metric=metric, id_col=id_col,
                    on_invalid=on_invalid, name=name).load(seed)
