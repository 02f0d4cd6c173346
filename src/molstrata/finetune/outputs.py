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
from typing import Any

import numpy as np
import pandas as pd

from molstrata.core.choice import best_index
from molstrata.data._metrics import delta_pct, higher_is_better


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two (n,) arrays; NaN for fewer than 3 points or a constant array."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    from scipy.stats import pearsonr

    return float(pearsonr(x, y).statistic)


def _md_table(df: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    def fmt(v):
        if isinstance(v, float | np.floating):
            return "" if not np.isfinite(v) else floatfmt.format(v)
        return str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


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


def _figures(out: Path, task: str, metric: str, num_layers: int, results, frozen) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    ft = pd.DataFrame([{"layer": k, "seed": s, "test": r.test_score} for (k, s), r in results.items()])
    ftm = ft.groupby("layer")["test"].agg(["mean", "std"])
    fz = frozen[frozen["split"] == "test"].groupby("layer")["score"].agg(["mean", "std"])

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(fz.index, fz["mean"], yerr=fz["std"].fillna(0), marker="o", capsize=3,
                label="frozen linear probe")
    ax.errorbar(ftm.index, ftm["mean"], yerr=ftm["std"].fillna(0), marker="s", capsize=3,
                linestyle="--", label="finetuned, truncated at k")
    ax.set_xticks(range(0, num_layers + 1))
    ax.set_xlabel(f"layer / truncation depth k (final = {num_layers})")
    ax.set_ylabel(f"test {metric}" + (" (lower is better)" if not higher_is_better(metric) else ""))
    ax.set_title(f"{task}: test score vs depth (mean ± std over seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(fig_dir / "score_vs_depth.png", dpi=120)
    plt.close(fig)

    both = pd.concat([fz["mean"].rename("frozen"), ftm["mean"].rename("finetuned")], axis=1).dropna()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(both["frozen"], both["finetuned"])
    for k, row in both.iterrows():
        ax.annotate(f"k={k}", (row["frozen"], row["finetuned"]), textcoords="offset points",
                    xytext=(4, 4))
    r = pearson(both["frozen"].to_numpy(), both["finetuned"].to_numpy())
    ax.set_xlabel(f"frozen probe test {metric}")
    ax.set_ylabel(f"finetuned test {metric}")
    ax.set_title(f"{task}: frozen vs finetuned per layer\n(Pearson r = {r:.2f}, n = {len(both)} depths)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(fig_dir / "frozen_vs_finetuned.png", dpi=120)
    plt.close(fig)
    return ["figures/score_vs_depth.png", "figures/frozen_vs_finetuned.png"]


def correlations(results, frozen: pd.DataFrame) -> dict[str, float]:
    """Per-layer Pearson r between frozen-probe and finetuned scores (means over seeds),
    over the finetuned depths, on test and on valid; ``n_layers`` points each."""
    out: dict[str, float] = {}
    for split in ("test", "valid"):
        ft = pd.Series({k: np.mean([r.test_score if split == "test" else r.valid_score
                                    for (kk, _), r in results.items() if kk == k])
                        for k in sorted({k for k, _ in results})})
        fz = frozen[frozen["split"] == split].groupby("layer")["score"].mean()
        both = pd.concat([fz.rename("frozen"), ft.rename("ft")], axis=1).dropna()
        out[f"pearson_{split}"] = pearson(both["frozen"].to_numpy(), both["ft"].to_numpy())
        out["n_layers"] = int(len(both))
    # the same on test, with every (layer, seed) as a point: seeds add their own noise
    fz = frozen[frozen["split"] == "test"].set_index(["layer", "seed"])["score"]
    pairs = [(fz.get((k, s), np.nan), r.test_score) for (k, s), r in results.items()]
    x = np.array([p[0] for p in pairs], dtype=float)
    y = np.array([p[1] for p in pairs], dtype=float)
    out["pearson_test_cells"] = pearson(x, y)
    out["n_cells"] = int(np.isfinite(x).sum())
    return out


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
    figures = _figures(out, task, metric, num_layers, results, frozen)

    direction = "lower is better" if not higher_is_better(metric) else "higher is better"
    cols = ["layer", "n_seeds", "valid_mean", "test_mean", "test_std", "delta_pct",
            "frozen_valid_mean", "frozen_test_mean", "best_lrs", "best_epochs"]
    lines = [
        f"# Finetuning truncated encoders: {encoder} on {task}",
        "",
        f"Metric: **{metric}** ({direction}). Final layer: {num_layers}. Seeds: "
        f"{', '.join(str(s) for s in sorted({s for _, s in results}))}.",
        "For every (depth, seed) the learning rate and epoch were chosen on the validation split "
        "over the whole learning-rate sweep; the test split was scored once, with that checkpoint.",
        "",
        "## Finetuned score per truncation depth",
        "",
        "`delta_pct`: gain over the full-depth finetune, in % of it (MAE: (full − trunc)/full; "
        "others: (trunc − full)/full). Positive = truncation helped. Frozen columns: a linear "
        "probe on the frozen layer (same splits), for comparison.",
        "",
        _md_table(summary[cols]),
        "",
        "## Depth chosen on validation (per seed)",
        "",
        _md_table(selection),
        "",
        f"Leaderboard (validation-chosen depth, test mean ± std over seeds): "
        f"{leaderboard[task][0]} ± {leaderboard[task][1]}",
        "",
        "## Does the frozen probe predict the finetuned score? (evaluate-then-finetune)",
        "",
        f"Pearson r between frozen-probe and finetuned scores across the {corr['n_layers']} "
        f"finetuned depths (means over seeds): test r = {corr['pearson_test']:.3f}, "
        f"valid r = {corr['pearson_valid']:.3f}; over all {corr['n_cells']} (depth, seed) "
        f"cells, test r = {corr['pearson_test_cells']:.3f}. The paper reports a mean of 0.41 and a median "
        "of 0.60 over 110 encoder–task pairs. With few depths this r is very noisy; it is "
        "undefined (blank/NaN) below 3 depths.",
        "",
        *[f"![{Path(f).stem}]({f})" for f in figures],
        "",
    ]
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
    r_test = corr["pearson_test"].to_numpy(dtype=float)
    r_cells = corr["pearson_test_cells"].to_numpy(dtype=float)

    def _stat(a, f):
        a = a[np.isfinite(a)]
        return f"{f(a):.3f}" if a.size else "n/a"

    cols = ["task", "metric", "layer", "n_seeds", "test_mean", "test_std", "delta_pct",
            "frozen_test_mean", "best_lrs"]
    lines = [
        f"# Finetuning truncated encoders: {encoder} on {len(runs)} tasks",
        "",
        "Learning rate and epoch chosen on validation over the whole sweep per (task, depth, "
        "seed); test scored once with that checkpoint. `delta_pct` vs the full-depth finetune "
        "(MAE: (full − trunc)/full; others: (trunc − full)/full), positive = truncation helped.",
        "",
        _md_table(summary[cols]),
        "",
        "## Frozen probe vs finetuned, per layer (Pearson r)",
        "",
        _md_table(corr),
        "",
        f"Across tasks: test r mean {_stat(r_test, np.mean)}, median {_stat(r_test, np.median)} "
        f"(layer means); over (depth, seed) cells: mean {_stat(r_cells, np.mean)}, median "
        f"{_stat(r_cells, np.median)}. The paper: mean 0.41, median 0.60 over 110 pairs.",
        "",
        *[f"- [{t}]({t}/report.md)" for t in runs],
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    return {"results": long, "summary": summary, "leaderboard": board, "correlations": corr,
            "out": out, "runs": runs}
