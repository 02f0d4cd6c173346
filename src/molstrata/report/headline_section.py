"""The report's "Uncertainty and controls" and "State of the art" sections (issue 21).

Uncertainty: the headline Δ (the run's choice vs the final layer) with paired per-seed
intervals per task, the across-task mean with its interval, a Wilcoxon signed-rank test and
the same without the Spearman tasks (:mod:`molstrata.report.stats`). Controls: the same
strategy on the encoder's random-init twin (``control_random-twin/``, written by
``molstrata probe --control random-twin``) and the strongest final-layer head. State of
the art: the honest score beside the TDC leaderboard's best and, for MiniMol, MiniMol's
published score. Nothing is refit; no choice reads the test set.
"""

from __future__ import annotations

from importlib import resources
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from molstrata.data import delta_pct, higher_is_better
from molstrata.encoders.registry import resolve_name
from molstrata.report.context import ProbeContext, _single_layer, load_leaderboard
from molstrata.report.stats import PAIR_COLUMNS, format_summary, headline, paired_task_table
from molstrata.report.tables import _fmt, _lower, format_pct, markdown_table

#: folder of the random-init twin's run inside a probe run (``--control random-twin``)
CONTROL_DIR = "control_random-twin"
#: HOOK for tuned final-layer heads (issue 21 items 1-3): a table ``encoder, task, metric,
#: seed, head, valid_score, test_score`` written into the run folder; per (task, seed) the
#: head best on **valid** is the "strongest final-layer head". Absent: the linear final layer.
FINAL_HEADS_FILE = "final_heads.csv"
#: strategies whose choice is one layer per seed (issue 21's question (a), the paper's claim);
#: every other strategy combines layers (question (b): ``concat``, ``ensemble``, ``mix``)
SINGLE_LAYER = ("valid", "valid-best", "cv", "cv-1se")


def seed_pairs(run: Path, ctx: ProbeContext) -> pd.DataFrame:
    """Long :data:`~molstrata.report.stats.PAIR_COLUMNS`: per encoder, task and seed the test
    score of the run's choice (``chosen``) and of the final layer (``final``).

    From ``selection_seeds.csv`` (the primary strategy's rows) when present; else the layer
    best on validation per seed (the ``valid`` rule) from ``probe_results.csv``.
    """
    path = run / "selection_seeds.csv"
    if path.is_file():
        table = pd.read_csv(path)
        mine = table[table["strategy"].astype(str) == ctx.primary] if "strategy" in table else table.iloc[:0]
        if not mine.empty:
            return pd.DataFrame({"encoder": mine["encoder"].astype(str), "task": mine["task"],
                                 "metric": mine["metric"], "seed": mine["seed"],
                                 "chosen": mine["test_score"], "final": mine["final_test_score"]})[PAIR_COLUMNS]
    single = _single_layer(ctx.results)
    test = ctx.results[ctx.results["split"] == "test"]
    last = test[test["layer"] == test.groupby(["encoder", "task"])["layer"].transform("max")]
    final = last.set_index(["encoder", "task", "seed"])["score"]
    metric = test.drop_duplicates(["encoder", "task"]).set_index(["encoder", "task"])["metric"]
    rows = [(e, t, metric[(e, t)], s, c, final.get((e, t, s), np.nan))
            for e, t, s, c in single[["encoder", "task", "seed", "test"]].itertuples(index=False)]
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def _run_probe(run: Path) -> str:
    """The probe of a run (``probe_params.csv``'s ``probe`` column; ``linear`` without it)."""
    path = run / "probe_params.csv"
    names = pd.read_csv(path)["probe"].astype(str).unique() if path.is_file() else []
    return str(names[0]) if len(names) == 1 else "linear"


def final_head_pairs(run: Path, pairs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """``pairs`` with ``final`` replaced by the strongest final-layer head's test score (the
    head best on valid per task and seed, from :data:`FINAL_HEADS_FILE`), and a label of
    what that head is; without the file, the linear final layer (``pairs`` unchanged)."""
    path = run / FINAL_HEADS_FILE
    if not path.is_file():
        probe = _run_probe(run)
        if probe != "linear":  # e.g. --probe mlp-tuned: the headline's final layer is that head's
            return pairs, f"the run's own {probe} probe on the final layer"
        return pairs, "the linear final layer (no tuned final-layer head in this run)"
    heads = pd.read_csv(path)
    sign = heads["metric"].map(lambda m: 1.0 if higher_is_better(str(m)) else -1.0)
    heads = heads.assign(key=sign * heads["valid_score"])
    best = heads.sort_values(["key", "head"], ascending=[False, True]).drop_duplicates(["encoder", "task", "seed"])
    # "default" in the file stands for the encoder it resolves to
    best = best.set_index([best["encoder"].astype(str).map(resolve_name), "task", "seed"])
    out = pairs.copy()
    out["final"] = [best["test_score"].get((e, t, s), np.nan)
                    for e, t, s in pairs[["encoder", "task", "seed"]].itertuples(index=False)]
    names = ", ".join(sorted(best["head"].astype(str).unique()))
    return out, f"the final-layer head best on valid per task and seed (among: {names}; `{FINAL_HEADS_FILE}`)"


def _headline_lines(per_task: pd.DataFrame, label: str) -> list[str]:
    lines = []
    for enc, g in per_task.groupby("encoder", sort=False):
        for which, s in headline(g).items():
            lines.append(f"- {enc} · {label}, {which} tasks: {format_summary(s)}")
    return lines


def _control(control: tuple[Path, ProbeContext] | None) -> tuple[pd.DataFrame, str] | None:
    if control is None:
        return None
    folder, ctx = control
    return paired_task_table(seed_pairs(folder, ctx)), ctx.primary


def _ci(lo: float, hi: float) -> str:
    return f"[{lo:+.3f}, {hi:+.3f}]" if np.isfinite(lo) and np.isfinite(hi) else "[n/a]"


def uncertainty_section(run: Path, ctx: ProbeContext,
                        control: tuple[Path, ProbeContext] | None = None) -> list[str]:
    """Markdown lines: the headline with its intervals and test, per-task paired intervals,
    and the controls (``control``: the random-init twin's run folder and context)."""
    chosen = ctx.primary
    pairs = seed_pairs(run, ctx)
    per = paired_task_table(pairs)
    control = _control(control)
    strong, what = final_head_pairs(run, pairs)
    lines = [
        "## Uncertainty and controls", "",
        f"The headline Δ% of **{chosen}** over the final layer. Per task: the mean over seeds of "
        "the paired differences `chosen − final` (same split and seed), in the metric's units, "
        "with its 95% Student-t interval over seeds. Across tasks: the mean Δ% with its 95% "
        "Student-t interval **over tasks** (tasks are the sampling unit), the median, and a "
        "two-sided Wilcoxon signed-rank test of the per-task Δ% against 0 (`scipy.stats.wilcoxon`, "
        "zeros dropped). The second line leaves out the Spearman tasks, which drive the means.", "",
        *_headline_lines(per, f"{chosen} vs final layer"),
    ]
    if control is not None:
        lines += _headline_lines(control[0], f"CONTROL random-init twin, {control[1]} vs its final layer")
    else:
        lines.append("- control random-init twin: not run (`molstrata probe --control random-twin`)")
    if strong is not pairs and not np.isfinite(strong["final"]).any():
        lines.append(f"- strongest final-layer head: `{FINAL_HEADS_FILE}` has no row for this run's "
                     f"encoder(s), tasks and seeds ({', '.join(map(str, per['encoder'].unique()))}); not compared")
    elif strong is pairs:
        lines.append(f"- strongest final-layer head: {what}, i.e. the headline above (a tuned head's "
                     f"per-seed scores in `{FINAL_HEADS_FILE}` would be compared here)")
    else:
        lines += _headline_lines(paired_task_table(strong), f"{chosen} vs {what}")
    lines += ["", _task_table(per, control[0] if control is not None else None), ""]
    return lines + two_questions_lines(run)


def two_questions_lines(run: Path) -> list[str]:
    """Markdown lines answering (a) one layer chosen honestly vs the final layer and (b)
    layers combined vs the final layer, one headline per strategy of ``selection_seeds.csv``
    (``[]`` when it holds one strategy only)."""
    path = run / "selection_seeds.csv"
    if not path.is_file():
        return []
    table = pd.read_csv(path)
    if "strategy" not in table or table["strategy"].nunique() < 2:
        return []
    pairs = table.rename(columns={"test_score": "chosen", "final_test_score": "final"})
    pairs["encoder"] = pairs["encoder"].astype(str)
    lines = ["### The two questions", "",
             "(a) Does **one** layer, chosen without the test set, beat the final layer (the paper's "
             "claim)? Single-layer strategies: `valid`, `cv`, `cv-1se`. "
             "(b) Does **combining** layers beat it? The other strategies. Same statistics as above.", ""]
    for question, single in (("(a)", True), ("(b)", False)):
        for name, g in pairs.groupby("strategy", sort=False):
            if (str(name) in SINGLE_LAYER) != single:
                continue
            lines += [line.replace("- ", f"- {question} ", 1)
                      for line in _headline_lines(paired_task_table(g[PAIR_COLUMNS]), f"{name} vs final layer")]
    return [*lines, ""]


def _task_table(per: pd.DataFrame, control: pd.DataFrame | None) -> str:
    ctrl = control.set_index(["encoder", "task"]) if control is not None else None
    rows = []
    for r in per.itertuples(index=False):
        row = {"encoder": r.encoder, "task": r.task, "metric": _lower(r.metric), "seeds": int(r.n_seeds),
               "Δ%": format_pct(r.delta_pct),
               "chosen − final (95% CI over seeds)": f"{r.diff_mean:+.3f} {_ci(r.diff_low, r.diff_high)}"}
        if ctrl is not None:
            c = ctrl.loc[(r.encoder, r.task)] if (r.encoder, r.task) in ctrl.index else None
            row["random twin Δ%"] = format_pct(c["delta_pct"]) if c is not None else "n/a"
        rows.append(row)
    return markdown_table(pd.DataFrame(rows))


def load_minimol_published() -> pd.DataFrame:
    """The shipped ``data/minimol_published.csv``: ``task, metric, minimol_mean,
    minimol_std, source_url`` (MiniMol's README, pinned commit; 22 TDC ADMET tasks)."""
    text = resources.files("molstrata.report").joinpath("data/minimol_published.csv").read_text()
    return pd.read_csv(StringIO(text), comment="#")


def _gap(ours: float, theirs: float, metric: str) -> str:
    """``+3.1% (+0.012)``: Δ% of ours over theirs (+ = ours better) and ``ours − theirs``."""
    if not (np.isfinite(ours) and np.isfinite(theirs)):
        return "n/a"
    return f"{format_pct(float(delta_pct(theirs, ours, metric)))} ({ours - theirs:+.3f})"


def sota_section(ctx: ProbeContext) -> list[str]:
    """Markdown lines: per task the honest score ± std beside the TDC leaderboard's best
    and (for MiniMol) MiniMol's published score, with the gaps and the counts."""
    board = load_leaderboard().drop_duplicates("task").set_index("task")
    pub = load_minimol_published().set_index("task")
    rows, wins = [], {"tdc": [0, 0], "minimol": [0, 0]}
    for r in ctx.per_task.itertuples(index=False):
        key = str(r.task).lower()
        best = board.loc[key] if key in board.index and board.loc[key, "metric"] == r.metric else None
        mm = pub.loc[key] if (str(r.encoder).lower() == "minimol" and key in pub.index
                              and pub.loc[key, "metric"] == r.metric) else None
        row = {"encoder": r.encoder, "task": r.task, "metric": _lower(r.metric),
               f"{ctx.primary} (test, ours)": f"{_fmt(r.chosen_mean)} ± {_fmt(r.chosen_std)}",
               "TDC leaderboard best": f"{_fmt(best['best_score'])} ± {_fmt(best['best_std'])}" if best is not None else "not listed",
               "gap to TDC best": _gap(r.chosen_mean, float(best["best_score"]), r.metric) if best is not None else "n/a"}
        for name, ref, col in (("tdc", best, "best_score"), ("minimol", mm, "minimol_mean")):
            if ref is not None and np.isfinite(r.chosen_mean):
                wins[name][1] += 1
                wins[name][0] += int(delta_pct(float(ref[col]), r.chosen_mean, r.metric) > 0)
        if str(r.encoder).lower() == "minimol":
            row["MiniMol published"] = f"{_fmt(mm['minimol_mean'])} ± {_fmt(mm['minimol_std'])}" if mm is not None else "n/a"
            row["gap to MiniMol published"] = _gap(r.chosen_mean, float(mm["minimol_mean"]), r.metric) if mm is not None else "n/a"
        rows.append(row)
    lines = [
        "## State of the art", "",
        f"The honest score (the **{ctx.primary}** choice, made without the test set; test mean ± "
        "population std over seeds) beside the TDC ADMET leaderboard's best (the shipped "
        "`molstrata/report/data/tdc_leaderboard.csv`, source per row) and, for MiniMol, MiniMol's "
        "own published score (`molstrata/report/data/minimol_published.csv`: MiniMol's README at "
        "commit 001044f). Gap: Δ% of ours over theirs, **+ = ours better** whatever the metric's "
        "direction, and `ours − theirs` in the metric's units.", "",
        f"- better than the TDC leaderboard's best on {wins['tdc'][0]} of {wins['tdc'][1]} listed task(s)",
    ]
    if wins["minimol"][1]:
        lines.append(f"- better than MiniMol's published score on {wins['minimol'][0]} of {wins['minimol'][1]} task(s)")
    return [*lines, "", markdown_table(pd.DataFrame(rows).fillna("")), ""]
