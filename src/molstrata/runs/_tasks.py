"""Tasks as the runs take them: a registered name (``caco2_wang``, ``moleculenet:esol``) or
a :class:`~molstrata.data.CsvTask` (``--input FILE --target-col ...``), loaded alike."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from molstrata import data as _data
from molstrata.data import CsvTask, TaskSplit

TaskRef = str | CsvTask


def task_name(task: TaskRef) -> str:
    """The name a task has in outputs (file-name safe for a :class:`CsvTask`)."""
    return task.name if isinstance(task, CsvTask) else str(task).strip().lower()


def csv_tasks(tasks: str | Sequence[Any]) -> dict[str, CsvTask]:
    """The :class:`CsvTask` entries of ``tasks``, by name."""
    if isinstance(tasks, str):
        return {}
    return {t.name: t for t in tasks if isinstance(t, CsvTask)}


def load_split(task: TaskRef, seed: int, data_dir: str | Path | None = None) -> TaskSplit:
    """The split of ``task`` for ``seed``: :meth:`CsvTask.load` or
    :func:`molstrata.data.load_task` (looked up when called, so tests may patch it)."""
    if isinstance(task, CsvTask):
        return task.load(seed)
    return _data.load_task(task, seed=seed, data_dir=data_dir)


def csv_settings(tasks: dict[str, CsvTask]) -> dict[str, Any]:
    """``{"csv_tasks": {name: settings}}`` for run records and configs; ``{}`` without any,
    so that the records of runs on registered tasks are unchanged."""
    return {"csv_tasks": {n: t.settings() for n, t in sorted(tasks.items())}} if tasks else {}
