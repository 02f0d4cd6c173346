"""Hand-made probe run folders (valid, cv and ensemble modes) with numbers small enough to
check by hand: 2 tasks, 2 seeds, 3 layers (0, 1, 2 = final)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# per task: metric, then per seed the (valid, test) score of layers 0, 1, 2
SCORES = {
    "caco2_wang": ("mae", {1: ([0.45, 0.47, 0.60], [0.50, 0.40, 0.60]),
                           2: ([0.50, 0.41, 0.55], [0.52, 0.44, 0.58])}),
    "hia_hou": ("roc-auc", {1: ([0.60, 0.65, 0.70], [0.70, 0.80, 0.75]),
                            2: ([0.61, 0.66, 0.64], [0.72, 0.78, 0.77])}),
}
# final layer (2): caco2 0.60 / 0.58 -> 0.59 ± 0.01; hia 0.75 / 0.77 -> 0.76 ± 0.01
# valid-picked single layer: caco2 layers 0, 1 -> 0.50, 0.44; hia layers 2, 1 -> 0.75, 0.78
# oracle (best mean test): layer 1 on both (caco2 0.42, hia 0.79)
ENSEMBLE = {  # per task: labels, per-seed test scores, per-seed weights of layers 0..2
    "caco2_wang": (["ens t=2", "ens t=inf"], [0.45, 0.47], [[0.5, 0.0, 0.5], [0.0, 0.0, 1.0]]),
    "hia_hou": (["ens t=5", "ens t=0 (1)"], [0.765, 0.763], [[1 / 3, 1 / 3, 1 / 3], [0.2, 0.8, 0.0]]),
}
CV = {"caco2_wang": [1, 1], "hia_hou": [1, 2]}  # the cv strategy's layer per seed


def _delta(final: float, other: float, metric: str) -> float:
    return 100 * ((final - other) if metric == "mae" else (other - final)) / final


def _mean_std(values: list[float]) -> tuple[float, float]:
    s = pd.Series(values, dtype=float)
    return float(s.mean()), float(s.std(ddof=0))


def write_run(folder: Path, mode: str) -> Path:
    """Write ``probe_results.csv``, ``summary.csv`` (and for ``cv``/``ensemble`` the three
    selection tables) of one encoder ``enc`` into ``folder``; return it."""
    rows, summary, selection, seeds_rows = [], [], [], []
    for task, (metric, per_seed) in SCORES.items():
        for seed, (valid, test) in per_seed.items():
            for k in range(3):
                rows += [("enc", task, metric, k, seed, "valid", valid[k]), ("enc", task, metric, k, seed, "test", test[k])]
        finals = [per_seed[s][1][2] for s in (1, 2)]
        if mode == "ensemble":
            labels, chosen, weights = ENSEMBLE[task]
        elif mode == "cv":
            labels = [str(k) for k in CV[task]]
            chosen = [per_seed[s][1][k] for s, k in zip((1, 2), CV[task], strict=True)]
            weights = [[1.0 if j == k else 0.0 for j in range(3)] for k in CV[task]]
        else:
            picks = [max(range(3), key=lambda j, s=s: -per_seed[s][0][j] if metric == "mae" else per_seed[s][0][j]) for s in (1, 2)]
            labels, chosen, weights = [str(k) for k in picks], [per_seed[s][1][k] for s, k in zip((1, 2), picks, strict=True)], None
        fm, fs = _mean_std(finals)
        cm, cs = _mean_std(chosen)
        summary.append(("enc", task, metric, 2, ";".join(labels), fm, fs, cm, cs, _delta(fm, cm, metric), 1,
                        _delta(fm, _mean_std([per_seed[s][1][1] for s in (1, 2)])[0], metric)))
        if weights is not None:
            selection.append(("enc", task, metric, mode, 2, ";".join(labels), cm, cs, fm, fs, _delta(fm, cm, metric)))
            for i, s in enumerate((1, 2)):
                seeds_rows.append(("enc", task, metric, s, mode, labels[i], chosen[i], finals[i],
                                   ";".join(f"{w:.6g}" for w in weights[i]), "{}"))
    pd.DataFrame(rows, columns=["encoder", "task", "metric", "layer", "seed", "split", "score"]).to_csv(
        folder / "probe_results.csv", index=False)
    pd.DataFrame(summary, columns=["encoder", "task", "metric", "final_layer", "selected_layers", "final_test_mean",
                                   "final_test_std", "selected_test_mean", "selected_test_std", "delta_pct",
                                   "oracle_layer", "oracle_delta_pct"]).to_csv(folder / "summary.csv", index=False)
    if selection:
        pd.DataFrame(selection, columns=["encoder", "task", "metric", "strategy", "n_seeds", "choices", "test_mean",
                                         "test_std", "final_test_mean", "final_test_std", "delta_pct"]).to_csv(
            folder / "selection.csv", index=False)
        pd.DataFrame([{"encoder": "enc", "strategy": mode, "tasks": 2, "mean_delta_pct": 0.0, "median_delta_pct": 0.0,
                       "tasks_better": 1, "tasks_worse": 0, "tasks_equal": 1, "worst_task": "hia_hou",
                       "worst_delta_pct": 0.0, "best_task": "caco2_wang", "best_delta_pct": 0.0}]).to_csv(
            folder / "selection_summary.csv", index=False)
        pd.DataFrame(seeds_rows, columns=["encoder", "task", "metric", "seed", "strategy", "choice", "test_score",
                                          "final_test_score", "weights", "info"]).to_csv(
            folder / "selection_seeds.csv", index=False)
    return folder
