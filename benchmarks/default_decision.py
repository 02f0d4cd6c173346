"""Which built-in encoder is ``default``? Decided on validation scores only (issue 21, Build 2).

The rule is written in ``benchmarks/results/README.md`` ("Decision rule for ``default``,
validation only"); :func:`decide` applies it to the table that ``score`` writes.

Steps (each resumable: rerun the same command after a kill)::

    python benchmarks/default_decision.py embed  --work W     # embeddings only, no probe
    python benchmarks/default_decision.py score  --work W     # validation table, no test split
    python benchmarks/default_decision.py decide --table T    # the rule; prints the decision

Every candidate (``--models``, default both built-ins) is run ``pretrained`` and as its
``random_init`` twins (``--twin-seeds``, default 0,1,2), on every TDC ADMET task and split
seed (``--seeds``, default 1-5). Each (model, variant, task, seed) cell fits the linear probe
of :mod:`molstrata.probe` (ridge / logistic, regularisation chosen on valid) on train, on
every layer, and keeps the best validation score over layers.

The test split is never read: ``score`` and ``embed`` load the tasks from a validation-only
copy of the data folder (``W/data_valid``: each task's ``train_val.csv`` linked, its
``test.csv`` replaced by a header-only file), so no test molecule is embedded and no test
label is loaded. The train/valid splits are those of the real folder (they are cut from
``train_val.csv`` alone).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

CANDIDATES = ("molstrata-smiles", "molstrata-graph")
CURRENT_DEFAULT = "molstrata-smiles"
#: (a): the pretrained model must beat its twins' mean on at least this fraction of the tasks
MIN_PRETRAINED_FRACTION = 2 / 3
MIN_TWINS = 3
SEEDS = (1, 2, 3, 4, 5)
COLUMNS = ["model", "variant", "init_seed", "task", "metric", "seed", "best_layer",
           "valid_score", "n_train", "n_valid"]


# ---------------------------------------------------------------------------------- the rule
def _better(a: float, b: float, metric: str) -> bool:
    from molstrata.data import higher_is_better

    return a > b if higher_is_better(metric) else a < b


def task_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Per (model, task): the pretrained score and the twins' score.

    ``pretrained``: mean over split seeds of the pretrained model's best validation score;
    ``twins``: mean over twin init seeds of the same quantity for each twin.

    Returns
    -------
    DataFrame, one row per (model, task): model, task, metric, pretrained, twins, n_twins
    """
    rows = []
    for (model, task), sub in table.groupby(["model", "task"], sort=True):
        metric = str(sub["metric"].iloc[0])
        pre = sub[sub["variant"] == "pretrained"]
        twins = sub[sub["variant"] != "pretrained"]
        twin_means = twins.groupby("init_seed")["valid_score"].mean()
        rows.append({"model": model, "task": task, "metric": metric,
                     "pretrained": float(pre["valid_score"].mean()),
                     "twins": float(twin_means.mean()), "n_twins": int(twin_means.size)})
    return pd.DataFrame(rows)


def check_complete(table: pd.DataFrame, seeds: Sequence[int] = SEEDS, min_twins: int = MIN_TWINS) -> None:
    """Raise ValueError unless every model has, on the same tasks, the pretrained variant and
    at least ``min_twins`` twins, each on every seed of ``seeds`` exactly once."""
    tasks = None
    for model, sub in table.groupby("model", sort=True):
        if tasks is None:
            tasks = set(sub["task"])
        elif set(sub["task"]) != tasks:
            raise ValueError(f"{model}: tasks differ from the other model's ({sorted(set(sub['task']) ^ tasks)})")
        variants = sorted(set(sub["variant"]))
        twins = [v for v in variants if v != "pretrained"]
        if "pretrained" not in variants or len(twins) < min_twins:
            raise ValueError(f"{model}: needs 'pretrained' and >= {min_twins} twins, has {variants}")
        counts = sub.groupby(["variant", "task", "seed"]).size()
        if (counts != 1).any():
            raise ValueError(f"{model}: duplicated cells {counts[counts != 1].index.tolist()[:3]}")
        for (variant, task), cell in sub.groupby(["variant", "task"]):
            if sorted(cell["seed"]) != sorted(seeds):
                raise ValueError(f"{model} {variant} {task}: seeds {sorted(cell['seed'])}, expected {list(seeds)}")


def decide(table: pd.DataFrame, *, current: str = CURRENT_DEFAULT, seeds: Sequence[int] = SEEDS,
           min_twins: int = MIN_TWINS, min_fraction: float = MIN_PRETRAINED_FRACTION) -> dict:
    """Apply the written rule to a validation table (columns :data:`COLUMNS`).

    (a) a model qualifies when its pretrained score beats its twins' on at least
    ``ceil(min_fraction * n_tasks)`` tasks; (b) among qualifying models, the one with the
    better pretrained score on more tasks (head to head; an exact tie on a task counts for
    neither) is ``default``; a tie, or no qualifying model, keeps ``current``.

    Returns
    -------
    dict: ``default``, ``reason``, ``n_tasks``, ``needed``, ``pretrained_wins``
    (model -> count), ``qualifies`` (model -> bool), ``head_to_head`` (model -> count)
    """
    check_complete(table, seeds=seeds, min_twins=min_twins)
    per_task = task_scores(table)
    models = sorted(per_task["model"].unique())
    n_tasks = int(per_task["task"].nunique())
    needed = math.ceil(min_fraction * n_tasks - 1e-9)
    wins = {m: int(sum(_better(r.pretrained, r.twins, r.metric)
                       for r in per_task[per_task["model"] == m].itertuples())) for m in models}
    qualifies = {m: wins[m] >= needed for m in models}
    wide = per_task.pivot(index="task", columns="model", values="pretrained")
    metric = per_task.groupby("task")["metric"].first()
    h2h = {m: 0 for m in models}
    for task, row in wide.iterrows():
        for m in models:
            if all(_better(row[m], row[o], metric[task]) for o in models if o != m):
                h2h[m] += 1
    ok = [m for m in models if qualifies[m]]
    if not ok:
        chosen, reason = current, "no candidate passes (a); the current default is kept"
    elif len(ok) == 1:
        chosen, reason = ok[0], f"only {ok[0]} passes (a)"
    else:
        best = max(h2h[m] for m in ok)
        top = [m for m in ok if h2h[m] == best]
        if len(top) == 1:
            chosen, reason = top[0], f"(b): better validation score on {best} of {n_tasks} tasks"
        else:
            chosen, reason = current, f"(b) tie at {best} tasks; the current default is kept"
    return {"default": chosen, "reason": reason, "n_tasks": n_tasks, "needed": needed,
            "pretrained_wins": wins, "qualifies": qualifies, "head_to_head": h2h}


# ----------------------------------------------------------------------------- data, encoders
def valid_only_data(source: Path, dest: Path, tasks: Sequence[str]) -> Path:
    """A data folder whose tasks have their real ``train_val.csv`` (linked) and a header-only
    ``test.csv``; returns ``dest``."""
    for task in tasks:
        folder = dest / "admet_group" / task
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / "train_val.csv"
        if not link.exists():
            link.symlink_to((source / "admet_group" / task / "train_val.csv").resolve())
        test = folder / "test.csv"
        if not test.exists():
            header = (source / "admet_group" / task / "train_val.csv").open().readline()
            test.write_text(header)
    return dest


def load_valid_split(task: str, seed: int, data_dir: Path):
    """The task's train/valid split for ``seed`` from the validation-only folder."""
    from molstrata.data import load_task

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*differs from the file in TDC's official archive.*")
        split = load_task(task, seed=seed, data_dir=data_dir)
    if len(split.test):
        raise RuntimeError(f"{data_dir}: task {task} has test rows; the decision must not read them")
    return split


def variants(twin_seeds: Sequence[int]) -> list[tuple[str, int | None]]:
    """``[("pretrained", None), ("twin0", 0), ...]``."""
    return [("pretrained", None), *[(f"twin{s}", s) for s in twin_seeds]]


def encoder(model: str, init_seed: int | None):
    from molstrata.encoders import load_encoder

    if init_seed is None:
        return load_encoder(model, device="cpu")
    return load_encoder(model, device="cpu", random_init=True, seed=init_seed)


def embed_all(models: Sequence[str], twin_seeds: Sequence[int], tasks: Sequence[str], data_dir: Path) -> None:
    """Embed every task's train_val molecules with each (model, variant); no probe is fit."""
    from molstrata.embeddings import embed_cached

    for model in models:
        for variant, init_seed in variants(twin_seeds):
            enc = encoder(model, init_seed)
            for task in tasks:
                t0 = time.monotonic()
                split = load_valid_split(task, 1, data_dir)
                smiles = [*split.smiles("train"), *split.smiles("valid")]
                embed_cached(enc, smiles, on_invalid="mask", progress=False)
                print(f"embedded {model} {variant} {task} ({len(smiles)} molecules, "
                      f"{time.monotonic() - t0:.0f} s)", flush=True)


# ------------------------------------------------------------------------------------ scoring
def score_cell(emb, split) -> dict:
    """Fit the linear probe on train for every layer; the best validation score over layers.

    ``emb``: LayerEmbeddings holding the train and valid molecules of ``split``.
    """
    from molstrata.data import evaluate, higher_is_better
    from molstrata.probe.estimators import make_probe

    index: dict[str, int] = {}
    for i, s in enumerate(emb.smiles):
        index.setdefault(s, i)
    rows, ys = {}, {}
    for part in ("train", "valid"):
        r = np.array([index[s] for s in split.smiles(part)], dtype=np.int64)
        ok = emb.valid[r]
        rows[part], ys[part] = r[ok], split.y(part)[ok]
        if not np.isfinite(ys[part]).all():
            raise ValueError(f"task {split.name} seed {split.seed}: non-finite {part} labels")
    take = {p: [np.asarray(layer[rows[p]], dtype=np.float32) for layer in emb.layers] for p in rows}
    est = make_probe("linear", split.task_type, split.metric, int(split.seed))
    est.fit(take["train"], ys["train"], take["valid"], ys["valid"])
    pred = est.predict(take["valid"])
    scores = np.array([evaluate(split.metric, ys["valid"], p) for p in pred])
    best = int(np.argmax(scores) if higher_is_better(split.metric) else np.argmin(scores))
    return {"metric": split.metric, "best_layer": best, "valid_score": float(scores[best]),
            "n_train": int(rows["train"].size), "n_valid": int(rows["valid"].size)}


def score_all(models: Sequence[str], twin_seeds: Sequence[int], tasks: Sequence[str], seeds: Sequence[int],
              data_dir: Path, cells_dir: Path) -> pd.DataFrame:
    """One JSON per (model, variant, task, seed) under ``cells_dir`` (skipped when present)."""
    from molstrata.embeddings import embed_cached

    cells_dir.mkdir(parents=True, exist_ok=True)
    for model in models:
        for variant, init_seed in variants(twin_seeds):
            enc = None
            for task in tasks:
                todo = [s for s in seeds if not (cells_dir / f"{model}__{variant}__{task}__s{s}.json").exists()]
                if not todo:
                    continue
                enc = enc or encoder(model, init_seed)
                t0 = time.monotonic()
                first = load_valid_split(task, todo[0], data_dir)
                smiles = [*first.smiles("train"), *first.smiles("valid")]
                emb = embed_cached(enc, smiles, on_invalid="mask", progress=False)
                for seed in todo:
                    split = first if seed == todo[0] else load_valid_split(task, seed, data_dir)
                    cell = {"model": model, "variant": variant, "init_seed": init_seed, "task": task,
                            "seed": seed, **score_cell(emb, split)}
                    path = cells_dir / f"{model}__{variant}__{task}__s{seed}.json"
                    tmp = path.with_suffix(".tmp")
                    tmp.write_text(json.dumps(cell, sort_keys=True))
                    tmp.replace(path)
                print(f"scored {model} {variant} {task} seeds {todo} ({time.monotonic() - t0:.0f} s)", flush=True)
    return collect(cells_dir)


def collect(cells_dir: Path) -> pd.DataFrame:
    """The table of every cell JSON under ``cells_dir``, sorted (byte-identical on rerun)."""
    cells = [json.loads(p.read_text()) for p in sorted(cells_dir.glob("*.json"))]
    table = pd.DataFrame(cells, columns=COLUMNS)
    table["init_seed"] = table["init_seed"].astype("Int64")
    return table.sort_values(["model", "variant", "task", "seed"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------- reporting
def summary(table: pd.DataFrame, result: dict) -> str:
    """The decision and its counts, as text."""
    per_task = task_scores(table)
    lines = [f"tasks: {result['n_tasks']}; split seeds {sorted(table['seed'].unique().tolist())}; "
             f"twins per model: {per_task.groupby('model')['n_twins'].min().to_dict()}",
             f"(a) pretrained beats the mean of its twins (validation, mean over seeds) on >= "
             f"{result['needed']} of {result['n_tasks']} tasks:"]
    for m, w in result["pretrained_wins"].items():
        lines.append(f"    {m}: {w} of {result['n_tasks']} -> {'passes' if result['qualifies'][m] else 'fails'}")
    lines.append("(b) better pretrained validation score, head to head:")
    for m, w in result["head_to_head"].items():
        lines.append(f"    {m}: {w} of {result['n_tasks']}")
    lines.append(f"default = {result['default']} ({result['reason']})")
    wide = per_task.pivot(index=["task", "metric"], columns="model", values=["pretrained", "twins"])
    wide.columns = [f"{m}:{v}" for v, m in wide.columns]
    lines += ["", wide.reset_index().to_markdown(index=False, floatfmt=".4f")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from molstrata.core.seed import parse_seeds
    from molstrata.data import list_tasks

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["embed", "score", "decide"])
    ap.add_argument("--models", default=",".join(CANDIDATES))
    ap.add_argument("--twin-seeds", default="0,1,2")
    ap.add_argument("--seeds", default="1-5", help="TDC split seeds")
    ap.add_argument("--tasks", default="all")
    ap.add_argument("--data-dir", default=None, help="TDC data folder (default MOLSTRATA_DATA_DIR)")
    ap.add_argument("--work", default="runs/default_decision", help="cells and the validation-only data")
    ap.add_argument("--table", default="benchmarks/results/default_decision_valid.csv")
    ap.add_argument("--summary", default="benchmarks/results/default_decision.txt")
    args = ap.parse_args(argv)
    if args.step == "decide":
        table = pd.read_csv(args.table, dtype={"init_seed": "Int64"})
        result = decide(table, seeds=parse_seeds(args.seeds))
        text = summary(table, result)
        Path(args.summary).write_text(text)
        print(text, end="")
        return 0
    import os

    models = [m.strip() for m in args.models.split(",")]
    tasks = list_tasks("admet") if args.tasks == "all" else [t.strip() for t in args.tasks.split(",")]
    source = Path(args.data_dir or os.environ["MOLSTRATA_DATA_DIR"])
    work = Path(args.work)
    data_dir = valid_only_data(source, work / "data_valid", tasks)
    if args.step == "embed":
        embed_all(models, parse_seeds(args.twin_seeds, flag="--twin-seeds", split=False), tasks, data_dir)
        return 0
    table = score_all(models, parse_seeds(args.twin_seeds, flag="--twin-seeds", split=False), tasks,
                      parse_seeds(args.seeds), data_dir, work / "cells")
    Path(args.table).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.table, index=False)
    print(f"{len(table)} cells written to {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
