"""What the probe report derives from a run's tables: the weights of each choice, its
weight-averaged depth, the honest single-layer choice, the oracle, the fingerprint baseline
and the published state of the art. No probe is refit and no choice reads the test set
(the oracle excepted, labelled as such)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from molstrata.core.config import load_config
from molstrata.data import delta_pct
from molstrata.probe.baseline import BASELINE_COLUMNS
from molstrata.probe.selection import select_layer

#: prefix of the test-picked rows of ``selection.csv``
ORACLE_PREFIX = "oracle"
BASELINE_FILE = "baseline.csv"


@dataclass
class ProbeContext:
    """A probe run's tables and what the report derives from them.

    Attributes
    ----------
    results : ``probe_results.csv`` (long)
    summary : ``summary.csv``
    primary : the strategy behind ``summary.csv`` (e.g. ``ensemble``, ``valid``)
    weights : long ``encoder, task, seed, layer, weight``: each seed's weight per layer
        (one-hot for a single-layer choice; the ensemble's softmax weights; ...)
    per_task : one row per encoder and task, see :func:`task_frame`
    n_layers : encoder -> number of layer outputs
    """

    results: pd.DataFrame
    summary: pd.DataFrame
    primary: str
    weights: pd.DataFrame
    per_task: pd.DataFrame
    n_layers: dict[str, int]


def _selection(run: Path, name: str) -> pd.DataFrame | None:
    path = run / name
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    return frame if not frame.empty and "strategy" in frame else None


def primary_strategy(run: Path, summary: pd.DataFrame) -> str:
    """The strategy whose choices fill ``summary.csv``: the one of ``selection.csv`` whose
    per-seed choices equal ``selected_layers`` on every row; else ``config.toml``'s
    ``primary_selection``; else ``valid``."""
    selection = _selection(run, "selection.csv")
    if selection is not None and "choices" in selection:
        mine = summary.set_index(["encoder", "task"])["selected_layers"].astype(str)
        for name, g in selection.groupby("strategy", sort=False):
            if str(name).startswith(ORACLE_PREFIX):
                continue
            theirs = g.assign(encoder=g["encoder"].astype(str)).set_index(["encoder", "task"])["choices"].astype(str)
            if theirs.reindex(mine.index).equals(mine):
                return str(name)
    if (run / "config.toml").is_file():
        try:
            params = load_config(run).get("params", {})
        except Exception:  # noqa: BLE001 - a damaged config only loses this hint
            params = {}
        if params.get("primary_selection"):
            return str(params["primary_selection"])
    return "valid"


def _layers_of(label: str) -> list[int]:
    return [int(v) for v in str(label).split("+") if v.strip().isdigit()]


def seed_weights(run: Path, summary: pd.DataFrame, results: pd.DataFrame, primary: str) -> pd.DataFrame:
    """Long ``encoder, task, seed, layer, weight`` of each seed's choice.

    From ``selection_seeds.csv`` (the strategy's recorded weights) when it holds
    ``primary``; else from ``summary.csv``'s per-seed layers (seed order of
    ``probe_results.csv``), one-hot, or spread evenly over a concatenation ``3+5``.
    """
    rows: list[tuple[str, str, int, int, float]] = []
    seeds_table = _selection(run, "selection_seeds.csv")
    if seeds_table is not None and "weights" in seeds_table:
        mine = seeds_table[seeds_table["strategy"].astype(str) == primary]
        for r in mine.itertuples(index=False):
            w = [float(v) for v in str(r.weights).split(";") if v.strip()]
            rows += [(str(r.encoder), r.task, int(r.seed), k, x) for k, x in enumerate(w)]
    if not rows:
        for r in summary.itertuples(index=False):
            seeds = sorted(results[(results["encoder"] == r.encoder) & (results["task"] == r.task)]["seed"].unique())
            for seed, label in zip(seeds, str(r.selected_layers).split(";"), strict=False):
                layers = _layers_of(label)
                rows += [(str(r.encoder), r.task, int(seed), k, 1.0 / len(layers)) for k in layers]
    return pd.DataFrame(rows, columns=["encoder", "task", "seed", "layer", "weight"])


def weighted_depths(weights: pd.DataFrame, n_layers: dict[str, int]) -> pd.DataFrame:
    """Per ``encoder, task, seed``: the weight-averaged relative depth of the choice,
    ``sum_k w_k k / (L - 1) / sum_k w_k`` (0 = embeddings, 1 = final layer)."""
    if weights.empty:
        return pd.DataFrame(columns=["encoder", "task", "seed", "depth"])
    w = weights.assign(scale=weights["encoder"].map(lambda e: max(n_layers.get(e, 1) - 1, 1)))
    w = w.assign(wk=w["weight"] * w["layer"] / w["scale"])
    g = w.groupby(["encoder", "task", "seed"], sort=False)
    out = (g["wk"].sum() / g["weight"].sum()).rename("depth").reset_index()
    return out[np.isfinite(out["depth"])]


def _single_layer(results: pd.DataFrame) -> pd.DataFrame:
    """Per ``encoder, task, seed``: the layer best on validation (the ``valid`` strategy's
    rule) and its test score; ``layer`` and ``test`` columns."""
    rows = []
    for (enc, task, seed), g in results.groupby(["encoder", "task", "seed"], sort=False):
        valid = g[g["split"] == "valid"].sort_values("layer")
        test = g[g["split"] == "test"].set_index("layer")["score"]
        k = select_layer(valid["score"].to_numpy(float), str(g["metric"].iloc[0]))
        rows.append((enc, task, seed, int(valid["layer"].iloc[k]), float(test.get(valid["layer"].iloc[k], np.nan))))
    return pd.DataFrame(rows, columns=["encoder", "task", "seed", "layer", "test"])


def load_leaderboard() -> pd.DataFrame:
    """The shipped ``data/tdc_leaderboard.csv``: ``task, metric, best_score, best_std, model,
    source_url, source_date, date_read`` (task names lower case), one row per TDC ADMET task."""
    text = resources.files("molstrata.report").joinpath("data/tdc_leaderboard.csv").read_text()
    frame = pd.read_csv(StringIO(text), comment="#")
    frame["task"] = frame["task"].astype(str).str.lower()
    return frame


def _baseline(run: Path) -> pd.DataFrame | None:
    path = run / BASELINE_FILE
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    if frame.empty or not set(BASELINE_COLUMNS) <= set(frame.columns):
        return None
    return frame.groupby("task")["test_score"].agg(baseline_mean="mean", baseline_std=lambda s: s.std(ddof=0))


def task_frame(results: pd.DataFrame, summary: pd.DataFrame, weights: pd.DataFrame,
               n_layers: dict[str, int], run: Path) -> pd.DataFrame:
    """One row per row of ``summary`` (encoder, task).

    Columns: ``final_mean/_std`` and ``chosen_mean/_std`` (test, over seeds), ``choices``,
    ``gain_pct`` (Δ% of the choice over the final layer) and ``gain_abs`` (chosen − final),
    ``within_spread`` (``|gain_abs|`` below the larger std), ``depth`` (weight-averaged
    relative depth, mean over seeds), ``single_mean/_std/_layers`` (one layer picked on
    valid per seed), ``oracle_layer/_mean/_std`` (one layer picked on test),
    ``optimism_pct/_abs`` (oracle vs the valid-picked layer), ``baseline_mean/_std``
    (``baseline.csv``; NaN when absent) and ``sota``, ``sota_model``, ``sota_date`` (the
    shipped leaderboard; NaN / ``""`` when the task or metric is not listed).
    """
    depth = weighted_depths(weights, n_layers).groupby(["encoder", "task"], sort=False)["depth"].mean()
    single = _single_layer(results)
    test = results[results["split"] == "test"]
    base = _baseline(run)
    board = load_leaderboard().drop_duplicates("task").set_index("task")
    rows = []
    for r in summary.itertuples(index=False):
        s = single[(single["encoder"] == r.encoder) & (single["task"] == r.task)]
        o = test[(test["encoder"] == r.encoder) & (test["task"] == r.task) & (test["layer"] == r.oracle_layer)]["score"]
        diff = r.selected_test_mean - r.final_test_mean
        row = {
            "encoder": r.encoder, "task": r.task, "metric": r.metric,
            "final_mean": r.final_test_mean, "final_std": r.final_test_std,
            "chosen_mean": r.selected_test_mean, "chosen_std": r.selected_test_std,
            "choices": str(r.selected_layers), "gain_pct": r.delta_pct, "gain_abs": diff,
            "within_spread": bool(abs(diff) < max(r.final_test_std, r.selected_test_std)),
            "depth": float(depth.get((r.encoder, r.task), np.nan)),
            "single_mean": s["test"].mean(), "single_std": s["test"].std(ddof=0),
            "single_layers": ";".join(map(str, s["layer"])),
            "oracle_layer": int(r.oracle_layer), "oracle_mean": o.mean(), "oracle_std": o.std(ddof=0),
        }
        row["optimism_pct"] = delta_pct(row["single_mean"], row["oracle_mean"], r.metric)
        row["optimism_abs"] = row["oracle_mean"] - row["single_mean"]
        row["baseline_mean"] = base["baseline_mean"].get(r.task, np.nan) if base is not None else np.nan
        row["baseline_std"] = base["baseline_std"].get(r.task, np.nan) if base is not None else np.nan
        key = str(r.task).lower()
        same = key in board.index and board.loc[key, "metric"] == r.metric
        row["sota"] = float(board.loc[key, "best_score"]) if same else np.nan
        row["sota_model"] = str(board.loc[key, "model"]) if same else ""
        row["sota_date"] = str(board.loc[key, "source_date"]) if same else ""
        rows.append(row)
    return pd.DataFrame(rows)


def load_probe(run: Path, results: pd.DataFrame, summary: pd.DataFrame) -> ProbeContext:
    """Everything the probe report shows, derived from the tables of ``run``."""
    n_layers = {str(e): int(g["layer"].max()) + 1 for e, g in results.groupby("encoder")}
    primary = primary_strategy(run, summary)
    weights = seed_weights(run, summary, results, primary)
    per_task = task_frame(results, summary, weights, n_layers, run)
    return ProbeContext(results, summary, primary, weights, per_task, n_layers)

