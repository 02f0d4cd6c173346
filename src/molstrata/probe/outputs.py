"""The tables of a probe run, in the stable formats of ``docs/design.md`` ("Probe outputs").

* ``probe_results.csv``: long, one row per encoder, task, metric, layer, seed, split;
* ``summary.csv``: one row per encoder, task (final vs validation-selected vs oracle);
* ``leaderboard.json``: ``{task: [mean, std]}`` of the selected layers' test scores (PyTDC
  ``evaluate_many`` form: scores rounded to 3 decimals, population std);
* ``predictions/<task>_seed<s>.csv``: ``Drug_ID``, ``Y``, ``Y_pred`` of the selected layer.

With several encoders, leaderboards and predictions are written per encoder under
``leaderboard/<encoder>.json`` and ``predictions/<encoder>/``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from molstrata.probe._probe import LayerScores
from molstrata.probe.selection import delta_pct, oracle_layer

RESULT_COLUMNS = ["encoder", "task", "metric", "layer", "seed", "split", "score"]
SUMMARY_COLUMNS = [
    "encoder", "task", "metric", "final_layer", "selected_layers", "final_test_mean",
    "final_test_std", "selected_test_mean", "selected_test_std", "delta_pct", "oracle_layer",
    "oracle_delta_pct",
]


def slug(name: str) -> str:
    """A file-name-safe form of an encoder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_") or "encoder"


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_csv(path: Path, frame: pd.DataFrame) -> None:
    _atomic_text(path, frame.to_csv(index=False))


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
            "selected_layers": ";".join(str(r.selected_layer) for r in runs),
            "final_test_mean": final.mean(), "final_test_std": final.std(),
            "selected_test_mean": selected.mean(), "selected_test_std": selected.std(),
            "delta_pct": delta_pct(final.mean(), selected.mean(), metric),
            "oracle_layer": oracle,
            "oracle_delta_pct": delta_pct(final.mean(), mean_test[oracle], metric),
        })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def leaderboard(scores: Sequence[LayerScores]) -> dict[str, list[float]]:
    """``{task: [mean, std]}`` of the selected layers' test scores, as PyTDC ``evaluate_many``."""
    from molstrata.data import mean_std

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


def write_tables(scores: Sequence[LayerScores], out: str | Path) -> dict[str, Path]:
    """Write every table of a probe run into ``out``; return their paths by name."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"probe_results": out / "probe_results.csv", "summary": out / "summary.csv",
             "probe_params": out / "probe_params.csv"}
    _atomic_csv(files["probe_results"], results_frame(scores))
    _atomic_csv(files["summary"], summary_frame(scores))
    _atomic_csv(files["probe_params"], params_frame(scores))
    encoders = list(dict.fromkeys(s.encoder for s in scores))
    multi = len(encoders) > 1
    for enc in encoders:
        mine = [s for s in scores if s.encoder == enc]
        board = out / "leaderboard" / f"{slug(enc)}.json" if multi else out / "leaderboard.json"
        _atomic_text(board, json.dumps(leaderboard(mine), indent=2) + "\n")
        files[f"leaderboard:{enc}"] = board
        pred_dir = out / "predictions" / slug(enc) if multi else out / "predictions"
        for s in mine:
            _atomic_csv(pred_dir / f"{s.task}_seed{s.seed}.csv", predictions_frame(s))
        files[f"predictions:{enc}"] = pred_dir
    return files
