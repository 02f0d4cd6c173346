"""The order in which a stage hands its (task, seed) jobs to a worker pool: the longest first,
so that the last job to finish is a short one and no worker waits on another's long tail.

The cost of a job is estimated from the size of its split: train + valid rows, times a weight
for classification tasks in the probe stage (the logistic fits along the grid cost about four
times a ridge path per row on the 22 TDC tasks; the selection stage's CV costs about the same
per row for both). The order changes when cells are computed, never what they hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: per-row weight of a classification job in the probe stage (regression: 1)
CLASSIFICATION_WEIGHT = 4.0


def longest_first(jobs: Sequence[tuple[Any, ...]], splits: Mapping[tuple[str, int], Any], *,
                  classification_weight: float = 1.0) -> list[int]:
    """Positions of ``jobs`` (each starting with ``(task, seed)``), the costliest first.

    Parameters
    ----------
    jobs : n_jobs tuples ``(task, seed, ...)``
    splits : (task, seed) -> TaskSplit
    classification_weight : per-row weight of classification tasks (regression: 1)

    Returns
    -------
    list of n_jobs positions; equal costs keep their input order
    """
    def cost(i: int) -> float:
        split = splits[(jobs[i][0], jobs[i][1])]
        weight = classification_weight if split.task_type == "classification" else 1.0
        return weight * (len(split.train) + len(split.valid))

    return sorted(range(len(jobs)), key=lambda i: -cost(i))
