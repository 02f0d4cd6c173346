"""``molstrata tasks``: the task table (name, type, metric, sizes), read from the data."""

from __future__ import annotations

from pathlib import Path

import typer

GROUP_CHOICES = ("admet", "moleculenet", "all")


def task_rows(group: str = "admet", data_dir: Path | None = None) -> list[dict[str, object]]:
    """One dict per task: name, type, metric, targets, train_val and test row counts.

    For MoleculeNet tasks ``train_val`` is the number of rows in the CSV (``"not found"``
    with ``group="all"`` when the file is absent) and ``test`` is ``None`` (the 80/10/10
    scaffold split depends on the seed).
    """
    import pandas as pd

    from molstrata.core.errors import DataNotFoundError, check_choice
    from molstrata.data import list_tasks, task_info
    from molstrata.data._admet import task_file
    from molstrata.data._registry import MOLECULENET_TASKS
    from molstrata.data._source import admet_dir
    from molstrata.data._tabular import moleculenet_file

    check_choice("--group", group, GROUP_CHOICES)
    rows: list[dict[str, object]] = []
    if group in ("admet", "all"):
        folder = admet_dir(data_dir)
        for name in list_tasks("admet"):
            info = task_info(name)
            sizes = [
                len(pd.read_csv(task_file(folder, name, f))) for f in ("train_val.csv", "test.csv")
            ]
            rows.append(
                {"name": name, "type": info.task_type, "metric": info.metric, "targets": 1,
                 "train_val": sizes[0], "test": sizes[1]}
            )  # fmt: skip
    if group in ("moleculenet", "all"):
        for name in list_tasks("moleculenet"):
            spec = MOLECULENET_TASKS[name]
            try:
                path = moleculenet_file(name, data_dir)
            except DataNotFoundError:
                if group == "moleculenet":
                    raise
                path = None  # "all": list the task, mark its file missing
            n_rows = (
                "not found" if path is None else len(pd.read_csv(path, usecols=[spec.smiles_col]))
            )
            rows.append(
                {"name": name, "type": spec.info.task_type, "metric": spec.info.metric,
                 "targets": len(spec.target_cols), "train_val": n_rows, "test": None}
            )  # fmt: skip
    return rows


def tasks_command(
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="Folder in TDC's layout (default: MOLSTRATA_DATA_DIR, else download).",
    ),
    group: str = typer.Option("admet", "--group", "-g", help="admet | moleculenet | all."),
) -> None:
    """List the benchmark tasks: name, type, metric, train_val and test sizes."""
    from rich.console import Console
    from rich.table import Table

    rows = task_rows(group, data_dir)
    table = Table(title=f"molstrata tasks ({group})")
    for col, justify in [("name", "left"), ("type", "left"), ("metric", "left"),
                         ("targets", "right"), ("train_val", "right"), ("test", "right")]:  # fmt: skip
        table.add_column(col, justify=justify)
    for row in rows:
        test = "-" if row["test"] is None else str(row["test"])
        table.add_row(row["name"], row["type"], row["metric"], str(row["targets"]),
                      str(row["train_val"]), test)  # fmt: skip
    console = Console()
    if not console.is_terminal:  # piped or captured: never truncate task names
        console = Console(width=120)
    console.print(table)
    if group in ("moleculenet", "all"):
        console.print(
            "MoleculeNet: train_val = rows in the CSV; train/valid/test is an 80/10/10 scaffold "
            "split per seed (so no fixed test size)."
        )


def register(app: typer.Typer) -> None:
    """Add ``molstrata tasks`` to the CLI."""
    app.command("tasks")(tasks_command)
