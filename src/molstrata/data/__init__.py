"""Tasks, splits and metrics: the TDC ADMET group, MoleculeNet CSVs and your own CSV.

Entry points
------------
- :func:`list_tasks` (``"admet"``: the 22 TDC ADMET group tasks; ``"moleculenet"``).
- :func:`load_task` ``(name, seed=1, data_dir=None) -> TaskSplit``.
- :func:`load_csv_task` for a user CSV.
- :func:`evaluate` ``(metric, y_true, y_pred)``, :func:`mean_std`, :func:`evaluate_many`.
- :func:`task_info` (type and metric without reading data).

TDC ADMET group
---------------
``test`` is TDC's fixed ``test.csv``. ``train``/``valid`` for seed ``s`` are PyTDC's
``admet_group(path).get_train_valid_split(benchmark=name, seed=s, split_type="default")``,
molecule for molecule and in the same row order, reimplemented without PyTDC (see
:mod:`molstrata.data._split` for the algorithm). Checked against PyTDC 1.1.15 (with the
RDKit it pins, 2023.9.6) on all 22 tasks x seeds 1-5; ``tests/data/test_tdc_split.py`` pins
sha256 checksums of PyTDC's own output for several tasks.

Invalid SMILES
--------------
SMILES are parsed with RDKit once per file and never dropped silently. PyTDC's scaffold
split leaves a ``train_val`` row whose SMILES RDKit rejects out of both train and valid
(its scaffold computation raises, the row is "omitted", and the part sizes are computed
from the remaining rows); molstrata does the same and lists such rows in
``TaskSplit.omitted`` with a warning. The test set is never altered: TDC scores every row of
``test.csv``. In ``solubility_aqsoldb`` the two SMILES that current RDKit (2024.03 and later)
rejects, ``CC1=CC=C[NH+2]([O-])[CH-]1`` and ``O=C(O)C1=C[NH+2]([O-])[CH-]C=C1``, are test
rows 1159 and 1160 (RDKit 2023.9, which TDC used, still parsed them). They stay in
``split.test`` and are listed in ``split.invalid["test"]``; a model must still predict
something for them (e.g. the training mean) to be scored on TDC's 1997 rows.

MoleculeNet
-----------
Names ``moleculenet:<dataset>`` for esol, freesolv, lipophilicity (regression, ``rmse``),
bbbp, bace, clintox, tox21, hiv, sider (classification, ``roc-auc``, averaged over targets
for the multi-target sets with missing labels ignored), read from
``<data_dir>/moleculenet/`` and split 80/10/10 with the same scaffold algorithm and
``seed``. Rows with SMILES RDKit rejects go to ``TaskSplit.omitted``.
"""

from __future__ import annotations

import os

import numpy as np

from molstrata.core.errors import ConfigError
from molstrata.data._metrics import (
    METRICS,
    MetricInputError,
    evaluate,
    evaluate_many,
    mean_std,
)
from molstrata.data._registry import (
    ADMET_TASKS,
    MOLECULENET_TASKS,
    TaskInfo,
    _unknown_task_message,
    list_tasks,
    task_info,
)
from molstrata.data._source import admet_dir, download_admet
from molstrata.data._tabular import load_csv_task
from molstrata.data._tasksplit import TaskSplit
from molstrata.data.smiles import ParsedSmiles, canonicalize, parse_smiles

__all__ = [
    "METRICS",
    "MetricInputError",
    "ParsedSmiles",
    "TaskInfo",
    "TaskSplit",
    "admet_dir",
    "canonicalize",
    "download_admet",
    "evaluate",
    "evaluate_many",
    "list_tasks",
    "load_csv_task",
    "load_task",
    "mean_std",
    "parse_smiles",
    "task_info",
]


def load_task(name: str, seed: int = 1, data_dir: str | os.PathLike | None = None) -> TaskSplit:
    """Load a benchmark task, split for ``seed``.

    Parameters
    ----------
    name : str
        A TDC ADMET group task (``list_tasks("admet")``, e.g. ``"caco2_wang"``) or a
        MoleculeNet task (``list_tasks("moleculenet")``, e.g. ``"moleculenet:bbbp"``).
        Case-insensitive.
    seed : int, default=1
        Split seed. For ADMET tasks, TDC's leaderboard protocol uses seeds 1 to 5.
    data_dir : path, optional
        Folder in TDC's layout (``admet_group/<task>/{train_val,test}.csv``,
        ``moleculenet/``). Defaults to ``MOLSTRATA_DATA_DIR``; when that is unset too, the
        ADMET archive is downloaded once into the user data folder and md5-checked.

    Returns
    -------
    TaskSplit
        ``train``, ``valid``, ``test`` DataFrames (``Drug_ID``, ``Drug``, ``Y``), ``metric``,
        ``task_type``.

    Raises
    ------
    ConfigError
        Unknown task name (with suggestions) or a bad seed.
    DataNotFoundError
        No data and no download possible; the message names ``MOLSTRATA_DATA_DIR`` and
        ``--data-dir``.
    ChecksumError
        A downloaded archive does not match TDC's md5.

    Examples
    --------
    >>> split = load_task("caco2_wang", seed=1)  # doctest: +SKIP
    >>> split.metric, len(split.train), len(split.valid), len(split.test)  # doctest: +SKIP
    ('mae', 637, 91, 182)
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    key = name.strip().lower() if isinstance(name, str) else name
    if key in ADMET_TASKS:
        from molstrata.data._admet import load_admet

        return load_admet(key, int(seed), data_dir)
    if key in MOLECULENET_TASKS:
        from molstrata.data._tabular import load_moleculenet

        return load_moleculenet(key, int(seed), data_dir)
    raise ConfigError(_unknown_task_message(name))
