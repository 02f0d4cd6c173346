"""Tasks, splits and metrics: the TDC ADMET group, MoleculeNet CSVs and your own CSV.

Entry points
------------
- :func:`list_tasks` (``"admet"``: the 22 TDC ADMET group tasks; ``"moleculenet"``).
- :func:`load_task` ``(name, seed=1, data_dir=None) -> TaskSplit``.
- :func:`load_csv_task` for a user CSV or DataFrame (a fixed test set, train/valid per seed;
  :mod:`molstrata.data._csvtask`); :func:`csv_task` builds the task without splitting it.
- :func:`evaluate` ``(metric, y_true, y_pred)``, :func:`mean_std`, :func:`evaluate_many`.
- :func:`task_info` (type and metric without reading data).
- :func:`resolve_task` for CLI commands taking ``--task`` or ``--input``.

Metrics
-------
:func:`evaluate` calls the functions TDC's ``Evaluator`` calls (scikit-learn's
``mean_absolute_error``, ``roc_auc_score``, ``average_precision_score``; SciPy's
``spearmanr``); ``tests/fixtures/tdc_metric_reference.json`` holds PyTDC's own outputs.
:func:`mean_std` / :func:`evaluate_many` round each seed's score to 3 decimals, then report
``[round(mean, 3), round(population std, 3)]``, as PyTDC's ``evaluate_many``.

TDC ADMET group
---------------
``test`` is TDC's fixed ``test.csv``. ``train``/``valid`` for seed ``s`` are PyTDC's
``admet_group(path).get_train_valid_split(benchmark=name, seed=s, split_type="default")``,
molecule for molecule and in the same row order, reimplemented without PyTDC (see
:mod:`molstrata.data._split` for the algorithm). Checked against PyTDC 1.1.15 run with the
RDKit it pins (2023.9.6) while molstrata ran RDKit 2026.03: all 110 (task, seed) splits of
the 22 tasks x seeds 1-5 are identical, rows and order. ``tests/data/test_tdc_split.py``
checks sha256 checksums of PyTDC's own output (``tests/fixtures/tdc_split_sha256.json``,
all 110 splits; 6 tasks in the default run, the rest under ``-m slow``).

RDKit versions: between RDKit 2023.9.6 and 2026.03, 35 of the 81,809 ADMET molecules get a
different scaffold string, but no ``train_val`` file is grouped differently, so the splits
agree. To stay identical to PyTDC under any future RDKit, the scaffold groups of the 22
official ``train_val.csv`` files, computed with RDKit 2023.9.6, ship with molstrata
(``tdc_scaffold_groups.json``, used only when the file's sha256 is the official one); any
other file is grouped with the installed RDKit and cached on disk
(``<MOLSTRATA_CACHE_DIR>/scaffolds/``, keyed by the SMILES and the RDKit version).

Invalid SMILES
--------------
SMILES are parsed with RDKit once per file and never dropped silently. PyTDC's scaffold
split leaves a ``train_val`` row whose SMILES RDKit rejects out of both train and valid
(its scaffold computation raises, the row is "omitted", and the part sizes are computed
from the remaining rows); molstrata does the same and lists such rows in
``TaskSplit.omitted`` with a warning. The test set is never altered: TDC scores every row of
``test.csv``. In ``solubility_aqsoldb`` the two SMILES that RDKit 2026.03 rejects, ``CC1=CC=C[NH+2]([O-])[CH-]1`` and ``O=C(O)C1=C[NH+2]([O-])[CH-]C=C1``, are test
rows 1159 and 1160 (RDKit 2023.9.6, the version PyTDC 1.1.15 pins, still parses them). They stay in
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
from collections.abc import Sequence

import numpy as np

from molstrata.core.errors import ConfigError
from molstrata.data._csvtask import CsvTask, csv_task, load_csv_task
from molstrata.data._metrics import (
    METRICS,
    MetricInputError,
    delta_pct,
    evaluate,
    evaluate_many,
    higher_is_better,
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
from molstrata.data._tasksplit import TaskSplit
from molstrata.data.smiles import ParsedSmiles, canonicalize, parse_smiles

__all__ = [
    "METRICS",
    "MetricInputError",
    "ParsedSmiles",
    "TaskInfo",
    "CsvTask",
    "TaskSplit",
    "admet_dir",
    "canonicalize",
    "csv_task",
    "delta_pct",
    "download_admet",
    "evaluate",
    "evaluate_many",
    "higher_is_better",
    "list_tasks",
    "load_csv_task",
    "load_task",
    "mean_std",
    "parse_smiles",
    "resolve_task",
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


def resolve_task(
    task: str | None = None,
    input_csv: str | os.PathLike | None = None,
    *,
    seed: int = 1,
    data_dir: str | os.PathLike | None = None,
    smiles_col: str = "smiles",
    target_cols: str | Sequence[str] = "Y",
    task_type: str = "regression",
    split: str = "scaffold",
    metric: str | None = None,
    id_col: str | None = None,
    name: str | None = None,
) -> TaskSplit:
    """The task behind the CLI flags ``--task T`` or ``--input file.csv``, exactly one of them.

    ``--task`` goes to :func:`load_task`; ``--input`` (with ``--smiles-col``,
    ``--target-col`` and ``--task-type``) to :func:`load_csv_task`.

    Raises
    ------
    ConfigError
        Both or neither of ``task`` and ``input_csv`` given.
    """
    if (task is None) == (input_csv is None):
        raise ConfigError("give exactly one of --task or --input")
    if task is not None:
        return load_task(task, seed=seed, data_dir=data_dir)
    return load_csv_task(
        input_csv,
        smiles_col=smiles_col,
        target_cols=target_cols,
        task_type=task_type,
        seed=seed,
        split=split,
        metric=metric,
        id_col=id_col,
        name=name,
    )
