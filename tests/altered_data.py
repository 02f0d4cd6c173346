"""A copy of one TDC task with other labels, in TDC's layout, for resume tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd


def altered_data_dir(data_dir: Path, dest: Path, task: str,
                     labels: Callable[[pd.Series], pd.Series]) -> Path:
    """``dest/admet_group/<task>/{train_val,test}.csv``: ``task``'s files from ``data_dir``
    with ``Y`` replaced by ``labels(Y)`` (molecules and rows unchanged). Returns ``dest``."""
    folder = dest / "admet_group" / task
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train_val.csv", "test.csv"):
        frame = pd.read_csv(Path(data_dir) / "admet_group" / task / name)
        frame["Y"] = labels(frame["Y"])
        frame.to_csv(folder / name, index=False)
    return dest
