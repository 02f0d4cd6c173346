"""The tables of a probe run, in the stable formats of ``docs/design.md`` ("Probe outputs").

* ``probe_results.csv``: long, one row per encoder, task, metric, layer, seed, split;
* ``summary.csv``: one row per encoder, task (final vs validation-selected vs oracle);
* ``leaderboard.json``: ``{task: [mean, std]}`` of the selected layers' test scores (PyTDC
  ``evaluate_many`` form: scores rounded to 3 decimals, population std);
* ``predictions/<task>_seed<s>.csv``: ``Drug_ID``, ``Y``, ``Y_pred`` of the selected layer;
* ``selection_seeds.csv``: every seed's choice, weights, test and validation scores (chosen
  vs final layer), in every run;
* with ``--selection`` strategies other than ``valid``: ``selection.csv`` (per encoder, task
  and strategy, test mean ± std over seeds and Δ% over the final layer, plus the test-picked
  oracle row), ``selection_summary.csv`` (per encoder and strategy: mean Δ%, tasks better /
  worse, worst task) and ``selection_seeds.csv`` (every seed's choice, weights and score).

With several encoders, leaderboards and predictions are written per encoder under
``leaderboard/<encoder>.json`` and ``predictions/<encoder>/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from molstrata.core.files import atomic_write
from molstrata.data import mean_std
from molstrata.probe._probe import LayerScores
from molstrata.probe.selection import delta_pct, oracle_layer
from molstrata.probe.selection import strategies as registered_strategies

if TYPE_CHECKING:
    from molstrata.probe.strategies import SelectionResult

RESULT_COLUMNS = ["encoder", "task", "metric", "layer", "seed", "split", "score"]
SUMMARY_COLUMNS = [
    "encoder", "task", "metric", "final_layer", "selected_layers", "final_test_mean",
    "final_test_std", "selected_test_mean", "selected_test_std", "delta_pct", "oracle_layer",
    "oracle_delta_pct",
]


def slug(name: str) -> str:
    """A file-name-safe form of an encoder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_") or "encoder"


def _atomic_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, frame.to_csv(index=False), cache=False)


def results_frame(scores: Sequence[LayerScores]) -> pd.DataFrame:
    """``probe_results.csv``: a valid and a test row for every layer of every run."""
    rows = []
    for s in scores:
        for split, values in (("valid", s.valid_scores), ("test", s.test_scores)):
            for k, v in enumerate(values):
                rows.append((s.encoder, s.task, s.metric, k, s.seed, split, float(v)))
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def summary_frame(scores: Sequence[LayerScores]) -> pd.DataFrame:
    """``summary.csv``: per encoder and task, over seeds (population std, as TDC).

    ``delta_pct`` compares the means of the selected layers' and the final layer's test
    scores; ``oracle_layer`` is the layer with the best mean **test** score (the paper's
    choice), kept only to measure the optimism of picking on test.
    """
    groups: dict[tuple[str, str], list[LayerScores]] = {}
    for s in scores:
        groups.setdefault((s.encoder, s.task), []).append(s)
    rows = []
    for (enc, task), runs in groups.items():
        runs = sorted(runs, key=lambda r: r.seed)
        metric = runs[0].metric
        test = np.stack([r.test_scores for r in runs])  # (n_seeds, n_layers)
        final = test[:, -1]
        selected = np.array([r.selected_test_score for r in runs])
        mean_test = test.mean(axis=0)
        oracle = oracle_layer(mean_test, metric)
        rows.append({
            "encoder": enc, "task": task, "metric": metric, "final_layer": test.shape[1] - 1,
            "selected_layers": ";".join(r.selection_label for r in runs),
            "final_test_mean": final.mean(), "final_test_std": final.std(),
            "selected_test_mean": selected.mean(), "selected_test_std": selected.std(),
            "delta_pct": delta_pct(final.mean(), selected.mean(), metric),
            "oracle_layer": oracle,
            "oracle_delta_pct": delta_pct(final.mean(), mean_test[oracle], metric),
        })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def leaderboard(scores: Sequence[LayerScores]) -> dict[str, list[float]]:
    """``{task: [mean, std]}`` of the selected layers' test scores, as PyTDC ``evaluate_many``."""
    per_task: dict[str, list[tuple[int, float]]] = {}
    for s in scores:
        per_task.setdefault(s.task, []).append((s.seed, s.selected_test_score))
    return {t: list(mean_std([v for _, v in sorted(vals)])) for t, vals in per_task.items()}


def predictions_frame(s: LayerScores) -> pd.DataFrame:
    """The test set's ``Drug_ID``, ``Y`` and ``Y_pred`` (selected layer), test-file order."""
    return pd.DataFrame({"Drug_ID": s.test_ids, "Y": s.test_y, "Y_pred": s.test_pred})


def params_frame(scores: Sequence[LayerScores]) -> pd.DataFrame:
    """``probe_params.csv``: the hyperparameter chosen on valid per encoder, task, seed, layer."""
    rows = [
        (s.encoder, s.task, s.seed, k, s.model, float(p))
        for s in scores for k, p in enumerate(s.params)
    ]
    return pd.DataFrame(rows, columns=["encoder", "task", "seed", "layer", "probe", "param"])


#: label of the test-picked rows of ``selection.csv``; never a strategy
ORACLE = "oracle (picked on TEST)"
SELECTION_COLUMNS = [
    "encoder", "task", "metric", "strategy", "n_seeds", "choices", "test_mean", "test_std",
    "final_test_mean", "final_test_std", "delta_pct",
]
SELECTION_SUMMARY_COLUMNS = [
    "encoder", "strategy", "tasks", "mean_delta_pct", "median_delta_pct", "tasks_better",
    "tasks_worse", "tasks_equal", "worst_task", "worst_delta_pct", "best_task", "best_delta_pct",
]


def selection_frame(results: Sequence[SelectionResult], scores: Sequence[LayerScores]) -> pd.DataFrame:
    """``selection.csv``: per encoder, task and strategy, over seeds (population std).

    ``choices`` lists each seed's choice (``;``-separated, seed order); ``delta_pct`` compares
    the mean test scores of the strategy and of the final layer (:func:`delta_pct`). After the
    strategies of each (encoder, task), a row labelled :data:`ORACLE` gives the layer with the
    best mean **test** score, the paper's choice, only to measure how optimistic it is.
    """
    order = {s.name: i for i, s in enumerate(registered_strategies())}
    groups: dict[tuple[str, str], list[SelectionResult]] = {}
    for r in results:
        groups.setdefault((r.encoder, r.task), []).append(r)
    layer_runs: dict[tuple[str, str], list[LayerScores]] = {}
    for s in scores:
        layer_runs.setdefault((s.encoder, s.task), []).append(s)
    rows = []
    for (enc, task), rs in groups.items():
        metric = rs[0].metric
        strategies = sorted({r.strategy for r in rs}, key=lambda n: (order.get(n, len(order)), n))
        for name in strategies:
            mine = sorted((r for r in rs if r.strategy == name), key=lambda r: r.seed)
            test = np.array([r.test_score for r in mine])
            fin = np.array([r.final_test_score for r in mine])
            rows.append({
                "encoder": enc, "task": task, "metric": metric, "strategy": name, "n_seeds": len(mine),
                "choices": ";".join(r.label for r in mine), "test_mean": test.mean(), "test_std": test.std(),
                "final_test_mean": fin.mean(), "final_test_std": fin.std(),
                "delta_pct": delta_pct(fin.mean(), test.mean(), metric),
            })
        runs = sorted(layer_runs.get((enc, task), []), key=lambda r: r.seed)
        if runs:
            test = np.stack([r.test_scores for r in runs])  # (n_seeds, n_layers)
            k = oracle_layer(test.mean(axis=0), metric)
            rows.append({
                "encoder": enc, "task": task, "metric": metric, "strategy": ORACLE, "n_seeds": len(runs),
                "choices": str(k), "test_mean": test[:, k].mean(), "test_std": test[:, k].std(),
                "final_test_mean": test[:, -1].mean(), "final_test_std": test[:, -1].std(),
                "delta_pct": delta_pct(test[:, -1].mean(), test[:, k].mean(), metric),
            })
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)


def selection_summary_frame(selection: pd.DataFrame) -> pd.DataFrame:
    """``selection_summary.csv``: per encoder and strategy, over tasks, from ``selection.csv``.

    ``tasks_better`` / ``tasks_worse`` count tasks whose Δ% is above / below zero; the worst
    task is the one of lowest Δ%. The oracle row keeps its label.
    """
    rows = []
    for (enc, name), g in selection.groupby(["encoder", "strategy"], sort=False):
        d = g["delta_pct"].to_numpy(dtype=np.float64)
        ok = np.isfinite(d)
        worst = int(np.nanargmin(np.where(ok, d, np.inf))) if ok.any() else None
        best = int(np.nanargmax(np.where(ok, d, -np.inf))) if ok.any() else None
        rows.append({
            "encoder": enc, "strategy": name, "tasks": len(g),
            "mean_delta_pct": float(d[ok].mean()) if ok.any() else np.nan,
            "median_delta_pct": float(np.median(d[ok])) if ok.any() else np.nan,
            "tasks_better": int((d[ok] > 0).sum()), "tasks_worse": int((d[ok] < 0).sum()),
            "tasks_equal": int((d[ok] == 0).sum()),
            "worst_task": g["task"].iloc[worst] if worst is not None else "",
            "worst_delta_pct": d[worst] if worst is not None else np.nan,
            "best_task": g["task"].iloc[best] if best is not None else "",
            "best_delta_pct": d[best] if best is not None else np.nan,
        })
    return pd.DataFrame(rows, columns=SELECTION_SUMMARY_COLUMNS)


SEEDS_COLUMNS = ["encoder", "task", "metric", "seed", "strategy", "choice", "test_score", "final_test_score",
                 "valid_score", "final_valid_score", "weights", "info"]


def _valid_of(weights: np.ndarray, valid: np.ndarray | None) -> tuple[float, float]:
    """(valid score of a one-layer choice, else NaN; the final layer's valid score)."""
    if valid is None:
        return np.nan, np.nan
    w = np.asarray(weights, dtype=np.float64)
    one = np.flatnonzero(w)
    single = one.size == 1 and w.size == valid.size
    return (float(valid[one[0]]) if single else np.nan), float(valid[-1])


def selection_seeds_frame(results: Sequence[SelectionResult],
                          scores: Sequence[LayerScores] = ()) -> pd.DataFrame:
    """``selection_seeds.csv``: every (encoder, task, seed, strategy): the choice, the weight of
    each layer (``;``-separated, layer order), the test scores, the validation scores (from
    ``scores``: of the chosen layer when the choice is one layer, NaN for a combination, whose
    own validation score is not computed; and of the final layer), and the details as JSON."""
    valid = {(s.encoder, s.task, s.seed): np.asarray(s.valid_scores, dtype=np.float64) for s in scores}
    rows = []
    for r in results:
        v, fv = _valid_of(r.weights, valid.get((r.encoder, r.task, r.seed)))
        rows.append({
            "encoder": r.encoder, "task": r.task, "metric": r.metric, "seed": r.seed, "strategy": r.strategy,
            "choice": r.label, "test_score": r.test_score, "final_test_score": r.final_test_score,
            "valid_score": v, "final_valid_score": fv,
            "weights": ";".join(f"{w:.6g}" for w in r.weights), "info": json.dumps(r.info, sort_keys=True),
        })
    return pd.DataFrame(rows, columns=SEEDS_COLUMNS)


def valid_seeds_frame(scores: Sequence[LayerScores]) -> pd.DataFrame:
    """``selection_seeds.csv`` of a run whose only strategy is ``valid``: each seed's layer
    (one-hot weights), its test and validation scores and the final layer's."""
    rows = []
    for s in scores:
        w = np.zeros(len(s.test_scores))
        w[s.selected_layer] = 1.0
        rows.append({
            "encoder": s.encoder, "task": s.task, "metric": s.metric, "seed": s.seed, "strategy": s.strategy,
            "choice": s.selection_label, "test_score": float(s.selected_test_score),
            "final_test_score": float(s.test_scores[-1]), "valid_score": float(s.valid_scores[s.selected_layer]),
            "final_valid_score": float(s.valid_scores[-1]),
            "weights": ";".join(f"{x:.6g}" for x in w), "info": "{}",
        })
    return pd.DataFrame(rows, columns=SEEDS_COLUMNS)


def write_tables(scores: Sequence[LayerScores], out: str | Path,
                 selections: Sequence[SelectionResult] | None = None) -> dict[str, Path]:
    """Write every table of a probe run into ``out``; return their paths by name.

    ``selections`` (from :func:`molstrata.probe.strategies.select_and_score`) adds
    ``selection.csv``, ``selection_summary.csv`` and ``selection_seeds.csv``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"probe_results": out / "probe_results.csv", "summary": out / "summary.csv",
             "probe_params": out / "probe_params.csv"}
    _atomic_csv(files["probe_results"], results_frame(scores))
    _atomic_csv(files["summary"], summary_frame(scores))
    _atomic_csv(files["probe_params"], params_frame(scores))
    if selections:
        table = selection_frame(selections, scores)
        files["selection"] = out / "selection.csv"
        files["selection_summary"] = out / "selection_summary.csv"
        files["selection_seeds"] = out / "selection_seeds.csv"
        _atomic_csv(files["selection"], table)
        _atomic_csv(files["selection_summary"], selection_summary_frame(table))
        _atomic_csv(files["selection_seeds"], selection_seeds_frame(selections, scores))
    else:  # every run ships each seed's choice and scores
        files["selection_seeds"] = out / "selection_seeds.csv"
        _atomic_csv(files["selection_seeds"], valid_seeds_frame(scores))
    encoders = list(dict.fromkeys(s.encoder for s in scores))
    multi = len(encoders) > 1
    for enc in encoders:
        mine = [s for s in scores if s.encoder == enc]
        board = out / "leaderboard" / f"{slug(enc)}.json" if multi else out / "leaderboard.json"
        atomic_write(board, json.dumps(leaderboard(mine), indent=2) + "\n", cache=False)
        files[f"leaderboard:{enc}"] = board
        pred_dir = out / "predictions" / slug(enc) if multi else out / "predictions"
        for s in mine:
            _atomic_csv(pred_dir / f"{s.task}_seed{s.seed}.csv", predictions_frame(s))
        files[f"predictions:{enc}"] = pred_dir
    return files
