"""Finetune truncated encoders with real weights, to convergence (issue 23): run and summarize.

``run``: for each task, the depths of ``--depths`` plus (``--best-frozen``) the depth with
the best mean frozen-linear-probe VALIDATION score over ``--frozen-seeds``, each finetuned for every seed and every
learning rate of ``--lrs`` by :func:`molstrata.runs.run_finetune` (selection of (lr, epoch)
on validation, test scored once), in ``OUT/<task>/``. A rerun with the same arguments
resumes (finished cells are read back, unfinished trials resume from their per-epoch
checkpoints); ``--executor ray`` runs every (depth, seed, lr) trial as a Ray task;
``--device cuda`` runs the same command on a GPU. ``--extend-down 3e-5,1e-5`` searches below
``--lrs`` coarse-to-fine: after the grid, each (depth, seed) cell whose validation-best rate
is its lowest tries the next lower rate (``OUT/<task>/ext/lr<rate>_seed<s>/``), step by step.

``summarize``: reads one or more run roots of one encoder (a first run, then extensions
with more learning rates or a higher cap, later roots replacing earlier trials), writes
``finetune_real_<name>_trials.csv`` (columns ``task, seed, depth, lr, epoch, max_epochs,
valid_score, test_score, selected``), the summary tables and figures, and prints the
convergence rules (selected epoch below cap, selected lr interior; each in >= 80% of
cells) with the learning rates to add where the second fails.

    OMP_NUM_THREADS=1 python benchmarks/finetune_real.py run --encoder molstrata-graph \
        --tasks hia_hou --seeds 1 --depths 1,2,3,4,5 --out /tmp/ft/runs/graph
    python benchmarks/finetune_real.py summarize --name molstrata-graph --full-depth 5 \
        --runs /tmp/ft/runs/graph --results benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

#: the plan fixed in benchmarks/results/README.md before any run
PLAN_TASKS = ("dili,hia_hou,bioavailability_ma,herg,half_life_obach,"
              "cyp2d6_substrate_carbonmangels,cyp2c9_substrate_carbonmangels,"
              "cyp3a4_substrate_carbonmangels")
PLAN_LRS = "1e-5,3e-5,1e-4,3e-4,1e-3,3e-3,1e-2"


def _run(args: argparse.Namespace) -> None:
    from molstrata import encoders
    from molstrata.core.seed import parse_seeds
    from molstrata.finetune import HeadConfig, TrainConfig
    from molstrata.runs.finetune import _load_splits, auto_layers, frozen_table, run_finetune
    from molstrata.scale import from_cli

    seeds = parse_seeds(args.seeds)
    config = TrainConfig(epochs=args.epochs, patience=args.patience, batch_size=args.batch_size)
    lrs = [float(x) for x in args.lrs.split(",")]
    extend = [float(x) for x in args.extend_down.split(",")] if args.extend_down else []
    if extend and (sorted(extend, reverse=True) != extend or max(extend) >= min(lrs)):
        raise SystemExit(f"--extend-down {args.extend_down}: rates must fall, all below --lrs' lowest")
    executor = from_cli(args.executor, args.ray_address)[0]
    enc = encoders.load_encoder(args.encoder, device=args.device)
    out = Path(args.out)
    for task in args.tasks.split(","):
        depths = {int(x) for x in args.depths.split(",")} | {enc.num_layers}
        if args.best_frozen:
            fseeds = parse_seeds(args.frozen_seeds)
            frozen = frozen_table(enc, _load_splits(task, fseeds, None), encoder=args.encoder,
                                  task=task, pooling=None, use_cache=True)
            depths |= set(auto_layers(frozen, frozen["metric"].iloc[0], enc.num_layers, top_m=1))
        t0 = time.time()
        run_finetune(args.encoder, task, layers=sorted(depths), seeds=seeds, lrs=lrs,
                     config=config, head=HeadConfig(), out=out / task, device=args.device,
                     executor=executor, progress=not args.quiet)
        print(f"{task}: depths {sorted(depths)} done in {time.time() - t0:.0f} s", flush=True)
        for rate in extend:
            for seed, cells in _cells_to_extend(out / task, rate).items():
                t0 = time.time()
                run_finetune(args.encoder, task, layers=cells, seeds=[seed], lrs=[rate],
                             config=config, head=HeadConfig(), out=_ext_folder(out / task, rate, seed),
                             device=args.device, executor=executor, progress=not args.quiet)
                print(f"{task}: seed {seed}, lr {rate:g} for depths {cells} (their best rate was "
                      f"their lowest) done in {time.time() - t0:.0f} s", flush=True)


def _ext_folder(task_dir: Path, rate: float, seed: int) -> Path:
    """Run folder of one downward step (``--extend-down``) of one seed of a task."""
    return task_dir / "ext" / f"lr{rate:g}_seed{seed}"


def _task_trials(task_dir: Path) -> pd.DataFrame:
    """The trials of one task folder and of its ``ext/`` steps, rows of a cell by learning
    rate (as one run over the whole grid lists them; ties on validation then go to the
    smaller rate, as in such a run). Each run's own ``selected`` is kept; a merge redoes it."""
    from molstrata.finetune.trials import trials_from_results

    folders = [task_dir, *sorted(p.parent for p in task_dir.glob("ext/*/finetune_results.csv"))]
    frames = []
    for folder in folders:
        run = json.loads((folder / "run.json").read_text())
        frames.append(trials_from_results(pd.read_csv(folder / "finetune_results.csv"),
                                          int(run["settings"]["train"]["epochs"])))
    trials = pd.concat(frames, ignore_index=True)
    if len(frames) > 1:
        trials = trials.sort_values(["seed", "depth", "lr"], kind="stable", ignore_index=True)
    return trials


def _cells_to_extend(task_dir: Path, rate: float) -> dict[int, list[int]]:
    """``{seed: depths}`` whose validation-best rate, over all rates tried so far, is their
    lowest and above ``rate``: they try ``rate`` next (coarse-to-fine downward)."""
    from molstrata.finetune import trials as tr

    metrics = tr.task_metrics(pd.read_csv(task_dir / "frozen_results.csv"))
    merged = tr.merge_trials([_task_trials(task_dir)], metrics)
    todo: dict[int, list[int]] = {}
    for _, seed, depth in tr.low_edge_cells(merged, rate):
        todo.setdefault(seed, []).append(depth)
    return {s: sorted(d) for s, d in sorted(todo.items())}


def _read_root(root: Path) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """Trials (with their ``ext/`` steps) and frozen tables of every task folder under one run root."""
    trials, frozen = [], []
    for res in sorted(root.glob("*/finetune_results.csv")):
        trials.append(_task_trials(res.parent))
        frozen.append(pd.read_csv(res.parent / "frozen_results.csv"))
    if not trials:
        raise SystemExit(f"no <task>/finetune_results.csv under {root}")
    return trials, frozen


def _head_scores(folder: Path, trials: pd.DataFrame, metrics: dict[str, str]) -> pd.DataFrame:
    """Test score per (task, seed) of the tuned-heads leaderboard's chosen head, from its
    shipped predictions ``<folder>/<task>_seed<s>.csv.gz`` (columns ``Drug_ID, Y, Y_pred``)."""
    from molstrata.data._metrics import evaluate

    rows = []
    for task, seed in trials[["task", "seed"]].drop_duplicates().itertuples(index=False):
        path = folder / f"{task}_seed{int(seed)}.csv.gz"
        if not path.is_file():
            raise SystemExit(f"--heads: {path} is missing")
        pred = pd.read_csv(path)
        rows.append({"task": task, "seed": int(seed),
                     "test_score": evaluate(metrics[str(task)], pred["Y"].to_numpy(), pred["Y_pred"].to_numpy())})
    return pd.DataFrame(rows, columns=["task", "seed", "test_score"])


def _summarize(args: argparse.Namespace) -> None:
    from molstrata.finetune import trials as tr
    from molstrata.finetune import trials_summary as ts

    frames, frozen = [], []
    for root in args.runs.split(","):
        t, f = _read_root(Path(root))
        frames += t
        frozen += f
    frozen_all = pd.concat(frozen, ignore_index=True).drop_duplicates(["task", "layer", "split", "seed"])
    metrics = tr.task_metrics(frozen_all)
    trials = tr.merge_trials(frames, metrics)
    tr.check_trials(trials, metrics)
    res = Path(args.results)
    res.mkdir(parents=True, exist_ok=True)
    stem = f"finetune_real_{args.name}"
    trials.to_csv(res / f"{stem}_trials.csv", index=False)
    depths = ts.depth_table(trials, frozen_all, metrics, args.full_depth)
    chosen = ts.chosen_depth_table(trials, metrics, args.full_depth)
    depths.to_csv(res / f"{stem}_summary.csv", index=False)
    chosen.to_csv(res / f"{stem}_chosen_depth.csv", index=False)
    heads = _head_scores(Path(args.heads), trials, metrics) if args.heads else None
    table = ts.pooled(chosen, trials, metrics, args.full_depth, frozen_all, heads)
    table.to_csv(res / f"{stem}_pooled.csv", index=False)
    ts.depth_correlations(depths).to_csv(res / f"{stem}_correlations.csv", index=False)
    ts.write_figures(res / "figures", stem, depths)
    conv = tr.convergence(trials)
    print(f"{conv['n_cells']} cells: selected epoch below cap in {conv['below_cap']} "
          f"({conv['below_cap_share']:.0%}), selected lr interior in {conv['interior']} "
          f"({conv['interior_share']:.0%}); rules met: {conv['meets']}")
    print("learning rates tried (grid: by every cell of the task; extra: rate:cells, the "
          "coarse-to-fine steps of --extend-down):")
    print(tr.grid_summary(trials).to_string(index=False))
    ext = tr.grid_extension(trials)
    if len(ext):
        print("learning rates to add (a new run root with --lrs <these>, then summarize both):")
        print(ext.to_string(index=False))
    if conv["at_cap_cells"]:
        print(f"cells at the cap (rerun them with --epochs x2 in a new root): {conv['at_cap_cells']}")
    print(table.to_string(index=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="finetune (resumable)")
    run.add_argument("--encoder", required=True)
    run.add_argument("--tasks", default=PLAN_TASKS)
    run.add_argument("--seeds", default="1-3")
    run.add_argument("--depths", required=True, help="truncation depths; the full depth is always added")
    run.add_argument("--best-frozen", action="store_true", help="add the best frozen-valid depth")
    run.add_argument("--frozen-seeds", default="1-3",
                     help="seeds whose mean frozen VALIDATION score picks --best-frozen (the same "
                          "depth for every seed, also when seeds run in separate roots)")
    run.add_argument("--lrs", default=PLAN_LRS)
    run.add_argument("--extend-down", default="",
                     help="coarse-to-fine downward: rates below --lrs, falling (e.g. 3e-5,1e-5); "
                          "after the grid, each cell whose validation-best rate is its lowest tries "
                          "the next one, in OUT/<task>/ext/lr<rate>_seed<s>/ (the full depth of that "
                          "seed too, as every run trains it)")
    run.add_argument("--epochs", type=int, default=40)
    run.add_argument("--patience", type=int, default=8)
    run.add_argument("--batch-size", type=int, default=32)
    run.add_argument("--device", default=None, help="cpu, cuda (default: CUDA when available)")
    run.add_argument("--executor", default="local", help="local | ray")
    run.add_argument("--ray-address", default="auto")
    run.add_argument("--out", required=True)
    run.add_argument("--quiet", action="store_true")
    summ = sub.add_parser("summarize", help="trials CSV, summary tables, figures, convergence")
    summ.add_argument("--name", required=True, help="the <encoder> in the file names")
    summ.add_argument("--full-depth", type=int, required=True)
    summ.add_argument("--runs", required=True, help="run roots, comma-separated, later ones win")
    summ.add_argument("--results", default="benchmarks/results")
    summ.add_argument("--heads", default=None,
                      help="a tuned-heads leaderboard predictions folder (<task>_seed<s>.csv.gz): adds the "
                           "validation-chosen finetune vs that head")
    args = ap.parse_args()
    _run(args) if args.cmd == "run" else _summarize(args)


if __name__ == "__main__":
    main()
