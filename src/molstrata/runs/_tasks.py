"""Tasks as the runs take them: a registered name (``caco2_wang``, ``moleculenet:esol``) or
a :class:`~molstrata.data.CsvTask` (``--input FILE --target-col ...``), loaded alike."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from molstrata import data as _data
from molstrata.core.errors import ConfigError
from molstrata.data import CsvTask, TaskSplit, list_tasks, task_info

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


def resolve_tasks(tasks: str | Sequence[str]) -> list[str]:
    """``"admet"`` → the 22 TDC ADMET tasks; ``"a,b"`` or a list → those names (checked);
    a :class:`~molstrata.data.CsvTask` in the list → its name."""
    if isinstance(tasks, str):
        names = [t.strip() for t in tasks.split(",") if t.strip()]
    else:
        names = [t if isinstance(t, CsvTask) else str(t).strip() for t in tasks]
    out: list[str] = []
    for name in names:
        if isinstance(name, CsvTask):
            out.append(name.name)
        elif name.lower() in ("admet", "moleculenet"):
            out.extend(list_tasks(name.lower()))
        else:
            task_info(name)  # raises ConfigError with suggestions for unknown names
            out.append(name.lower())
    if not out:
        raise ConfigError("no tasks given; use --tasks admet or a comma-separated list")
    return list(dict.fromkeys(out))
