"""Tables, figures and the report of a finetune run.

Files written in the run folder:

``finetune_results.csv``
    long format, one row per ``encoder, task, metric, layer, seed, lr, epoch, split``, with
    ``score`` and ``selected``: every (lr, epoch) of every sweep on ``valid``, and the one
    ``test`` row of the checkpoint chosen on validation.
``frozen_results.csv``
    the frozen linear probe per ``layer, seed, split`` (same encoder, same splits).
``summary.csv``
    one row per ``encoder, task, layer``: finetuned valid/test mean ± std over seeds,
    ``delta_pct`` vs the full-depth finetune (the paper's formula: MAE
    ``(full - trunc) / full``, others ``(trunc - full) / full``, in %), the frozen probe's
    scores at that layer, and the chosen learning rates and epochs.
``selection.csv``
    per seed, the depth chosen on **validation** among those finetuned, and its test score.
``leaderboard.json``
    ``{task: [mean, std]}`` of that validation-chosen depth's test scores over seeds
    (population std, 3 decimals, as PyTDC's ``evaluate_many``).
``predictions/<task>_layer<k>_seed<s>.csv``
    ``Drug_ID, Y, Y_pred`` of the test set in test-file order.
``figures/score_vs_depth.png``, ``figures/frozen_vs_finetuned.png``, ``report.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from molstrata.core.choice import best_index
from molstrata.data._metrics import delta_pct, higher_is_better
from molstrata.finetune.report import (
    cells_from_results,
    combined_lines,
    draw_figures,
    pearson,
    single_task_lines,
)
from molstrata.finetune.report import correlations as _correlations

if TYPE_CHECKING:
    from molstrata.finetune.sweep import FinetuneResult

__all__ = ["pearson", "correlations", "write_outputs", "write_combined", "delta_pct"]


def results_table(encoder: str, results: dict[tuple[int, int], Any]) -> pd.DataFrame:
    """The long ``finetune_results`` table from ``{(layer, seed): FinetuneResult}``."""
    rows = []
    for (k, s), res in sorted(results.items()):
        for h in res.history.itertuples(index=False):
            rows.append({
                "encoder": encoder, "task": res.task, "metric": res.metric, "layer": k, "seed": s,
                "lr": float(h.lr), "epoch": int(h.epoch), "split": "valid",
                "score": float(h.valid_score),
                "selected": bool(h.lr == res.best_lr and h.epoch == res.best_epoch),
            })
        rows.append({
            "encoder": encoder, "task": res.task, "metric": res.metric, "layer": k, "seed": s,
            "lr": res.best_lr, "epoch": res.best_epoch, "split": "test",
            "score": res.test_score, "selected": True,
        })
    return pd.DataFrame(rows)


def summary_table(encoder: str, num_layers: int, results: dict[tuple[int, int], Any],
                  frozen: pd.DataFrame) -> pd.DataFrame:
    """One row per finetuned depth, with Δ% vs the full-depth finetune (mean over seeds)."""
    any_res = next(iter(results.values()))
    metric, task = any_res.metric, any_res.task
    layers = sorted({k for k, _ in results})
    fz = frozen.groupby(["layer", "split"])["score"].mean()
    full_test = np.mean([r.test_score for (k, _), r in results.items() if k == num_layers])
    rows = []
    for k in layers:
        cell = [results[(kk, s)] for (kk, s) in sorted(results) if kk == k]
        test = np.array([r.test_score for r in cell])
        valid = np.array([r.valid_score for r in cell])
        rows.append({
            "encoder": encoder, "task": task, "metric": metric, "layer": k,
            "final_layer": num_layers, "n_seeds": len(cell),
            "valid_mean": valid.mean(), "valid_std": valid.std(),
            "test_mean": test.mean(), "test_std": test.std(),
            "full_test_mean": full_test,
            "delta_pct": delta_pct(full_test, test.mean(), metric),
            "frozen_valid_mean": fz.get((k, "valid"), np.nan),
            "frozen_test_mean": fz.get((k, "test"), np.nan),
            "best_lrs": ";".join(f"{r.best_lr:g}" for r in cell),
            "best_epochs": ";".join(str(r.best_epoch) for r in cell),
        })
    return pd.DataFrame(rows)


def selection_table(results: dict[tuple[int, int], Any]) -> pd.DataFrame:
    """Per seed, the finetuned depth with the best validation score (ties: shallowest)."""
    rows = []
    for s in sorted({s for _, s in results}):
        cells = sorted(((k, r) for (k, ss), r in results.items() if ss == s), key=lambda c: c[0])
        metric = cells[0][1].metric
        pick = best_index([r.valid_score for _, r in cells], higher_is_better(metric))
        best_k, best = cells[pick or 0]  # ties (within tolerance): the shallowest
        rows.append({"seed": s, "selected_layer": best_k, "valid_score": best.valid_score,
                     "test_score": best.test_score, "lr": best.best_lr, "epoch": best.best_epoch})
    return pd.DataFrame(rows)


def correlations(results: dict[tuple[int, int], FinetuneResult],
                 frozen: pd.DataFrame) -> dict[str, float]:
    """Per-layer Pearson r between frozen-probe and finetuned scores (means over seeds),
    over the finetuned depths, on test and on valid; NaN below 3 depths
    (:func:`molstrata.finetune.report.correlations`)."""
    return _correlations(cells_from_results(results), frozen)


def write_outputs(out: str | Path, *, encoder: str, task: str, num_layers: int,
                  results: dict[tuple[int, int], Any], frozen: pd.DataFrame,
                  splits: dict[int, Any]) -> dict[str, Any]:
    """Write every table, figure and ``report.md`` of a run into ``out``; see the module doc."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    any_res = next(iter(results.values()))
    metric = any_res.metric
    long = results_table(encoder, results)
    long.to_csv(out / "finetune_results.csv", index=False)
    frozen.to_csv(out / "frozen_results.csv", index=False)
    pred_dir = out / "predictions"
    pred_dir.mkdir(exist_ok=True)
    for (k, s), res in results.items():
        test = splits[s].test if s in splits else None
        if test is not None:
            pd.DataFrame({"Drug_ID": test["Drug_ID"], "Y": test["Y"], "Y_pred": res.test_pred}) \
                .to_csv(pred_dir / f"{task}_layer{k}_seed{s}.csv", index=False)
    summary = summary_table(encoder, num_layers, results, frozen)
    summary.to_csv(out / "summary.csv", index=False)
    selection = selection_table(results)
    selection.to_csv(out / "selection.csv", index=False)
    sel_test = selection["test_score"].to_numpy()
    leaderboard = {task: [round(float(sel_test.mean()), 3), round(float(sel_test.std()), 3)]}
    (out / "leaderboard.json").write_text(json.dumps(leaderboard, indent=2))
    corr = correlations(results, frozen)
    figures = draw_figures(out, task, metric, num_layers, cells_from_results(results), frozen)
    lines = single_task_lines(encoder=encoder, task=task, metric=metric, num_layers=num_layers,
                              seeds=sorted({s for _, s in results}), summary=summary,
                              selection=selection, board=leaderboard[task], corr=corr, figures=figures)
    (out / "report.md").write_text("\n".join(lines))
    return {"results": long, "frozen": frozen, "summary": summary, "selection": selection,
            "correlations": corr, "leaderboard": leaderboard, "out": out}


def write_combined(out: str | Path, encoder: str, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Combine per-task runs (outputs of :func:`write_outputs`) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    long = pd.concat([r["results"] for r in runs.values()], ignore_index=True)
    long.to_csv(out / "finetune_results.csv", index=False)
    summary = pd.concat([r["summary"] for r in runs.values()], ignore_index=True)
    summary.to_csv(out / "summary.csv", index=False)
    board = {t: r["leaderboard"][t] for t, r in runs.items()}
    (out / "leaderboard.json").write_text(json.dumps(board, indent=2))
    corr = pd.DataFrame([{"task": t, **r["correlations"]} for t, r in runs.items()])
    corr.to_csv(out / "correlations.csv", index=False)
    lines = combined_lines(encoder, list(runs), summary, corr, list(runs))
    (out / "report.md").write_text("\n".join(lines))
    return {"results": long, "summary": summary, "leaderboard": board, "correlations": corr,
            "out": out, "runs": runs}
