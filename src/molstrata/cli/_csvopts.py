"""The flags that make a labelled CSV a task, shared by ``probe``, ``finetune`` and ``analyze``:
``--input FILE --smiles-col COL --target-col COL [--target-col COL2 ...] --task-type T
[--id-col COL] [--split scaffold|random|column:NAME] [--metric M] [--task-name NAME]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

INPUT = typer.Option(None, "--input", "-i", help="Your own labelled CSV as a task (with --smiles-col, --target-col, --task-type); README 'Your own data'.")
SMILES_COL = typer.Option(None, "--smiles-col", help="SMILES column of --input (default: smiles, SMILES, Drug...).")
TARGET_COL = typer.Option(None, "--target-col", help="Label column of --input; repeat for several targets.")
TASK_TYPE = typer.Option(None, "--task-type", help="regression | classification (labels 0/1), for --input.")
ID_COL = typer.Option(None, "--id-col", help="Column of --input used as the molecule id (default: the row number).")
SPLIT = typer.Option("scaffold", "--split", help="For --input: scaffold (fixed scaffold test set, seed 0; train/valid per seed) | random | column:NAME (a column saying train/valid/test).")
METRIC = typer.Option(None, "--metric", help="For --input: mae | rmse | spearman | roc-auc | pr-auc (default: mae for regression, roc-auc for classification).")
TASK_NAME = typer.Option(None, "--task-name", help="Name of the --input task in outputs (default: the file name's stem).")


def csv_task_from_flags(
    input_csv: Path | None, *, smiles_col: str | None, target_cols: list[str] | None,
    task_type: str | None, id_col: str | None, split: str, metric: str | None,
    task_name: str | None,
) -> Any:
    """The :class:`~molstrata.data.CsvTask` the flags describe, or ``None`` without ``--input``.

    Raises
    ------
    ConfigError
        A CSV flag without ``--input``, or ``--input`` without ``--target-col`` /
        ``--task-type``.
    """
    from molstrata.core.errors import ConfigError
    from molstrata.data import csv_task
    from molstrata.data.user_csv import read_smiles_csv

    if input_csv is None:
        given = [f for f, v in (("--target-col", target_cols), ("--task-type", task_type),
                                ("--metric", metric), ("--task-name", task_name)) if v]
        if given:
            raise ConfigError(f"{', '.join(given)} describe(s) an --input CSV; pass --input FILE")
        return None
    if not target_cols or task_type is None:
        raise ConfigError(f"--input {input_csv} as a task needs --target-col COL and --task-type "
                          "regression|classification")
    if smiles_col is None:  # the same guess as embed/analyze --input
        smiles_col = read_smiles_csv(input_csv)[2]
    return csv_task(input_csv, smiles_col=smiles_col, target_cols=list(target_cols),
                    task_type=task_type, id_col=id_col, split=split, metric=metric, name=task_name)
