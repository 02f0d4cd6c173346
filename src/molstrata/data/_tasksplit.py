"""The frozen train / valid / test split every later stage receives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from molstrata.core.errors import check_choice
from molstrata.data._labels import check_labels
from molstrata.data._metrics import higher_is_better

PARTS = ("train", "valid", "test")


@dataclass(frozen=True, eq=False)
class TaskSplit:
    """One task, split for one seed.

    Attributes
    ----------
    name : str
        Task name, e.g. ``"caco2_wang"``, ``"moleculenet:tox21"`` or ``"csv:<file stem>"``.
    train, valid, test : pandas.DataFrame
        Columns ``Drug_ID``, ``Drug`` (SMILES as in the source file) and the targets: ``Y``
        for single-target tasks, else one column per name in ``target_cols`` (NaN where a
        label is missing). Index is a fresh ``RangeIndex``. For ADMET tasks ``test`` is TDC's
        fixed ``test.csv`` and ``train``/``valid`` are PyTDC's
        ``get_train_valid_split(seed=seed)``, row for row and in PyTDC's order.
    metric : {"mae", "rmse", "spearman", "roc-auc", "pr-auc"}
        TDC's metric for ADMET tasks.
    task_type : {"regression", "classification"}
    seed : int
        The split seed.
    group : {"admet", "moleculenet", "csv"}
    target_cols : tuple of str
        Label columns; ``("Y",)`` for single-target tasks. ``n_tasks = len(target_cols)``.
    invalid : mapping of str to ndarray of int
        For each part, row positions (0-based, in that part's DataFrame) whose SMILES RDKit
        rejects. These rows are kept, so nothing shifts; encoders mark them invalid.
    omitted : pandas.DataFrame
        Rows of the source that are in none of the parts because the scaffold split could
        not compute their scaffold (RDKit rejects the SMILES), as PyTDC does. Same columns
        plus ``source_row`` (0-based row in the source file). Empty for most tasks.
    sources : mapping of str to (str, ndarray of int)
        For each part, the file its rows come from and their 0-based data rows in it, so
        label errors name file lines (:meth:`check_labels`). Empty for parts built in memory.
    """

    name: str
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    metric: str
    task_type: str
    seed: int
    group: str = "admet"
    target_cols: tuple[str, ...] = ("Y",)
    invalid: Mapping[str, np.ndarray] = field(default_factory=dict)
    omitted: pd.DataFrame = field(default_factory=pd.DataFrame)
    sources: Mapping[str, tuple[str, np.ndarray]] = field(default_factory=dict)

    @property
    def n_tasks(self) -> int:
        """Number of label columns."""
        return len(self.target_cols)

    @property
    def higher_is_better(self) -> bool:
        """False for error metrics (mae, rmse), True otherwise."""
        return higher_is_better(self.metric)

    def part(self, name: str) -> pd.DataFrame:
        """The ``"train"``, ``"valid"`` or ``"test"`` DataFrame."""
        check_choice("part", name, PARTS)
        return getattr(self, name)

    def smiles(self, part: str) -> list[str]:
        """SMILES of one part, length n_molecules, in row order."""
        return self.part(part)["Drug"].astype(str).tolist()

    def y(self, part: str) -> np.ndarray:
        """Labels of one part.

        Returns
        -------
        ndarray of float64, shape (n_molecules,) for one target, else (n_molecules, n_tasks)
        """
        values = self.part(part)[list(self.target_cols)].to_numpy(dtype=np.float64)
        return values[:, 0] if self.n_tasks == 1 else values

    def check_labels(self) -> TaskSplit:
        """Raise :class:`~molstrata.core.errors.LabelError` unless every label can be used.

        Missing, NaN or non-numeric labels, a single class, or all-equal regression targets
        are refused with the task, the file and its 1-based line numbers (header = line 1);
        see :func:`molstrata.data._labels.check_labels`. Returns ``self``.
        """
        check_labels(self)
        return self

    def __repr__(self) -> str:
        sizes = ", ".join(f"{p}={len(self.part(p))}" for p in PARTS)
        return (
            f"TaskSplit(name={self.name!r}, seed={self.seed}, {sizes}, metric={self.metric!r}, "
            f"task_type={self.task_type!r}, n_tasks={self.n_tasks})"
        )
