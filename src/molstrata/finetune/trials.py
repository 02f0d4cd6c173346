"""The trials table of finetune runs, and the convergence rules it must meet (issue 23).

A *trial* is one trained (task, seed, depth, learning rate). Its row says where that
run's validation score peaked (``epoch``, ``valid_score``), the epoch cap it ran under
(``max_epochs``), and whether validation chose it for its (task, seed, depth) *cell*
(``selected``). Test is read once per cell, for the selected trial only: ``test_score`` is
NaN on the other rows.

Two rules say whether the grid and the cap were wide enough (:func:`convergence`): the
selected epoch sits below the cap, and the selected learning rate is interior to the grid
tried in its cell (neither its smallest nor its largest), each in at least 80% of cells.
:func:`grid_extension` names the learning rates to add where the second rule fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from molstrata.core.errors import ConfigError
from molstrata.data._metrics import higher_is_better
from molstrata.finetune.train import is_better

#: the columns of ``finetune_real_<encoder>_trials.csv``, in order
TRIAL_COLUMNS: tuple[str, ...] = ("task", "seed", "depth", "lr", "epoch", "max_epochs",
                                  "valid_score", "test_score", "selected")
CELL = ["task", "seed", "depth"]
#: the share of cells each convergence rule needs
RULE_SHARE = 0.8


def _best_row(frame: pd.DataFrame, score: str, metric: str) -> int:
    """Position of the best ``score`` in ``frame`` (ties: the first); NaN never wins."""
    best, pos = float("nan"), -1
    for i, v in enumerate(frame[score].to_numpy(dtype=np.float64)):
        if is_better(float(v), best, metric):
            best, pos = float(v), i
    return pos


def trials_from_results(results: pd.DataFrame, max_epochs: int) -> pd.DataFrame:
    """One trial row per (task, seed, depth, lr) of a run's ``finetune_results.csv``.

    Parameters
    ----------
    results : the long table of :func:`molstrata.finetune.outputs.results_table`: columns
        ``task, metric, layer, seed, lr, epoch, split, score`` with a ``valid`` row per
        epoch of every learning rate and one ``test`` row per (layer, seed)
    max_epochs : the run's epoch cap (``--epochs``)

    Returns
    -------
    DataFrame with :data:`TRIAL_COLUMNS`, rows in the results' order; ``selected`` marks the
    learning rate of the cell's test row, and only that row has a ``test_score``.
    """
    need = {"task", "metric", "layer", "seed", "lr", "epoch", "split", "score"}
    missing = sorted(need - set(results.columns))
    if missing:
        raise ConfigError(f"finetune results lack column(s) {missing}")
    valid = results[results["split"] == "valid"]
    tests = results[results["split"] == "test"].set_index(["task", "layer", "seed"])
    rows = []
    for (task, layer, seed, lr), g in valid.groupby(["task", "layer", "seed", "lr"], sort=False):
        g = g.sort_values("epoch", kind="stable")
        pos = _best_row(g, "score", str(g["metric"].iloc[0]))
        test = tests.loc[(task, layer, seed)] if (task, layer, seed) in tests.index else None
        chosen = test is not None and float(test["lr"]) == float(lr)
        rows.append({
            "task": task, "seed": int(seed), "depth": int(layer), "lr": float(lr),
            "epoch": int(g["epoch"].iloc[pos]) if pos >= 0 else 0, "max_epochs": int(max_epochs),
            "valid_score": float(g["score"].iloc[pos]) if pos >= 0 else float("nan"),
            "test_score": float(test["score"]) if chosen else float("nan"),
            "selected": bool(chosen),
        })
    return pd.DataFrame(rows, columns=list(TRIAL_COLUMNS))


def merge_trials(frames: Sequence[pd.DataFrame], metrics: dict[str, str]) -> pd.DataFrame:
    """Trials of several runs of one encoder (a first run, then grid or cap extensions).

    A later frame's row replaces an earlier one of the same (task, seed, depth, lr). Each
    cell then selects, on ``valid_score`` only, over every learning rate it has (ties: the
    one listed first); the selected row keeps the test score its own run computed for it.

    Raises :class:`ConfigError` when a cell's selected trial has no test score (its run did
    not select it: a cap extension must rerun every learning rate of a cell).
    """
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(TRIAL_COLUMNS))
    key = [*CELL, "lr"]
    allrows = pd.concat(frames, ignore_index=True)
    merged = allrows.drop_duplicates(key, keep="last")
    merged = merged.set_index(key).loc[allrows.drop_duplicates(key, keep="first").set_index(key).index]
    merged = merged.reset_index()[list(TRIAL_COLUMNS)]
    out = []
    for (task, seed, depth), g in merged.groupby(CELL, sort=False):
        g = g.copy()
        pos = _best_row(g, "valid_score", metrics[str(task)])
        g["selected"] = np.arange(len(g)) == pos
        if pos >= 0 and not np.isfinite(g["test_score"].iloc[pos]):
            raise ConfigError(
                f"{task} seed {seed} depth {depth}: validation now selects lr "
                f"{g['lr'].iloc[pos]:g}, whose run did not score test; rerun every learning "
                "rate of this cell in the extension")
        g.loc[~g["selected"], "test_score"] = np.nan
        out.append(g)
    return pd.concat(out, ignore_index=True)


def convergence(trials: pd.DataFrame) -> dict[str, object]:
    """How many cells meet the two rules.

    Returns
    -------
    dict with ``n_cells``; ``below_cap`` and ``interior`` (number of cells whose selected
    epoch is below its cap / whose selected lr lies strictly inside the lrs of that cell);
    ``below_cap_share``, ``interior_share``; ``meets`` (both shares >= 0.8);
    ``at_cap_cells`` and ``edge_cells`` (lists of ``(task, seed, depth)`` failing each).
    """
    sel = trials[trials["selected"].astype(bool)]
    lo = trials.groupby(CELL)["lr"].min()
    hi = trials.groupby(CELL)["lr"].max()
    n = len(sel)
    at_cap, edge = [], []
    for row in sel.itertuples(index=False):
        cell = (row.task, int(row.seed), int(row.depth))
        if int(row.epoch) >= int(row.max_epochs):
            at_cap.append(cell)
        if not lo[cell] < float(row.lr) < hi[cell]:
            edge.append(cell)
    below, inside = n - len(at_cap), n - len(edge)
    shares = (below / n, inside / n) if n else (float("nan"), float("nan"))
    return {"n_cells": n, "below_cap": below, "interior": inside,
            "below_cap_share": shares[0], "interior_share": shares[1],
            "meets": bool(n) and min(shares) >= RULE_SHARE,
            "at_cap_cells": at_cap, "edge_cells": edge}


def grid_extension(trials: pd.DataFrame) -> pd.DataFrame:
    """The learning rates to add, per task, where selected rates sit on the grid's edge.

    For each task with an edge cell, one more rate beyond each edge that was hit, one grid
    step away (the ratio of the two outermost rates on that side, e.g. 1e-2 → 3e-2 after
    3e-3, 1e-2).

    Returns
    -------
    DataFrame with columns ``task, side, n_cells, new_lr`` (side ``low`` or ``high``).
    """
    rows = []
    for task, g in trials.groupby("task", sort=False):
        lrs = np.sort(g["lr"].unique())
        if len(lrs) < 2:
            continue
        sel = g[g["selected"].astype(bool)]
        for side, edge, inner in (("low", lrs[0], lrs[1]), ("high", lrs[-1], lrs[-2])):
            n = int((sel["lr"] == edge).sum())
            if n:
                rows.append({"task": task, "side": side, "n_cells": n,
                             "new_lr": float(f"{edge * edge / inner:.3g}")})
    return pd.DataFrame(rows, columns=["task", "side", "n_cells", "new_lr"])


def low_edge_cells(trials: pd.DataFrame, below: float) -> list[tuple[str, int, int]]:
    """Cells to try one lower learning rate in: the validation-selected rate is the smallest
    the cell has tried, and that smallest rate is above ``below`` (the rate to try).

    The step of a coarse-to-fine search downward: start from a coarse grid, and while a
    cell's best rate on validation is its lowest, train it once more at the next lower rate
    (its selection is then redone on validation over all its rates, :func:`merge_trials`).

    Parameters
    ----------
    trials : a merged trials table (:data:`TRIAL_COLUMNS`, one ``selected`` row per cell)
    below : the learning rate the cells would try next

    Returns
    -------
    ``(task, seed, depth)`` of each such cell, in table order.
    """
    out = []
    for cell, g in iter_cells(trials):
        lo = float(g["lr"].min())
        sel = g[g["selected"].astype(bool)]
        if len(sel) and float(sel["lr"].iloc[0]) == lo and lo > float(below):
            out.append(cell)
    return out


def grid_summary(trials: pd.DataFrame) -> pd.DataFrame:
    """Which learning rates each task's cells tried: the rates every cell of the task tried
    (its grid) and, for a coarse-to-fine search (:func:`low_edge_cells`), each further rate
    with the number of cells that tried it.

    Returns
    -------
    DataFrame with columns ``task, n_cells, grid`` (rates joined by ``,``) and ``extra``
    (``rate:n_cells`` joined by ``,``; empty when every cell tried the same rates).
    """
    rows = []
    for task, g in trials.groupby("task", sort=False):
        per_cell = [frozenset(c["lr"].astype(float)) for _, c in g.groupby(CELL[1:], sort=False)]
        common = frozenset.intersection(*per_cell)
        extra = sorted({lr for cell in per_cell for lr in cell} - common, reverse=True)
        rows.append({"task": task, "n_cells": len(per_cell),
                     "grid": ",".join(f"{lr:g}" for lr in sorted(common)),
                     "extra": ",".join(f"{lr:g}:{sum(lr in c for c in per_cell)}" for lr in extra)})
    return pd.DataFrame(rows, columns=["task", "n_cells", "grid", "extra"])


def task_metrics(frozen: pd.DataFrame) -> dict[str, str]:
    """``{task: metric}`` from frozen-probe tables (columns ``task, metric``)."""
    pairs = frozen[["task", "metric"]].drop_duplicates()
    return {str(t): str(m) for t, m in pairs.itertuples(index=False)}


def check_trials(trials: pd.DataFrame, metrics: dict[str, str]) -> None:
    """Refuse a trials table that breaks its own contract (columns, one selected row per
    cell with a test score, test read nowhere else, the selection on valid)."""
    if tuple(trials.columns) != TRIAL_COLUMNS:
        raise ConfigError(f"trials columns {list(trials.columns)}; expected {list(TRIAL_COLUMNS)}")
    for cell, g in trials.groupby(CELL, sort=False):
        sel = g["selected"].astype(bool)
        if int(sel.sum()) != 1 or g.loc[~sel, "test_score"].notna().any():
            raise ConfigError(f"trials cell {cell}: expected one selected row, the only one with a test score")
        best = g["valid_score"].max() if higher_is_better(metrics[str(cell[0])]) else g["valid_score"].min()
        if not np.isclose(float(g.loc[sel, "valid_score"].iloc[0]), float(best)):
            raise ConfigError(f"trials cell {cell}: the selected row is not the validation best")


def iter_cells(trials: pd.DataFrame) -> Iterable[tuple[tuple[str, int, int], pd.DataFrame]]:
    """``((task, seed, depth), rows)`` of each cell, in table order."""
    for cell, g in trials.groupby(CELL, sort=False):
        yield (str(cell[0]), int(cell[1]), int(cell[2])), g
