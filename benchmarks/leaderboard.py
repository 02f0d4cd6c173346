"""Leaderboard of the tuned heads (issue 21): run the candidates, then choose, then score test once.

``run`` fits, per (task, seed), every candidate of :func:`molstrata.probe.heads.head_candidates`
(tuned MLP / LightGBM heads on the final layer, the best-CV layer and the top-3 CV layers
concatenated, and the stacking of every layer) on train / valid, and writes its validation
score and test predictions under ``<out>/units/<encoder>/<task>/seed<s>.npz`` (resumable: a
unit already written is skipped). No test label is read.

``summarize`` applies the decision rule written in ``benchmarks/results/README.md``: per
task, the candidate with the best mean validation score over the seeds (ties: the earlier
candidate). Only then are the test labels read: each chosen candidate is scored on test
once per seed (TDC's rounding: :func:`molstrata.data.mean_std`). It writes the leaderboard
(``task, metric, strategy, test_mean, test_std, minimol_published, tdc_top``), the test
predictions behind it (``<task>_seed<s>.csv.gz``: ``Drug_ID, Y, Y_pred``) and, after the
choice, every candidate's scores (``*_candidates.csv``; never used to choose).

Usage::

    MOLSTRATA_CACHE_DIR=/work/cache OMP_NUM_THREADS=1 python benchmarks/leaderboard.py run \\
        --encoder minimol --tasks admet --seeds 1-5 --out /work/runs/heads
    python benchmarks/leaderboard.py summarize --encoder minimol --out /work/runs/heads \\
        --csv benchmarks/results/leaderboard_minimol.csv
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

PUBLISHED = Path(__file__).parent / "results" / "minimol_published.csv"


def _unit_path(out: Path, encoder: str, task: str, seed: int) -> Path:
    return out / "units" / encoder / task / f"seed{seed}.npz"


def _write_unit(path: Path, cands, n_test: int, seconds: float) -> None:
    from molstrata.core.files import atomic_write

    names = [c.name for c in cands]
    info = {c.name: {**c.info, "layers": list(c.layers)} for c in cands}
    arrays = {"names": np.array(names), "valid": np.array([c.valid_score for c in cands]),
              "test_pred": np.stack([c.test_pred for c in cands]) if cands else np.zeros((0, n_test)),
              "info": np.array(json.dumps(info, sort_keys=True)), "cpu_s": np.array(seconds)}
    atomic_write(path, lambda fh: np.savez(fh, **arrays), cache=False)


def _read_unit(path: Path) -> dict | None:
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        return {k: np.asarray(z[k]) for k in z.files}


def run(args: argparse.Namespace) -> None:
    """Fit every candidate of every (task, seed) not yet written; no test label is read."""
    import torch

    torch.set_num_threads(1)
    from molstrata.core.seed import parse_seeds
    from molstrata.data import load_task
    from molstrata.embeddings import embed_cached
    from molstrata.encoders import load_encoder
    from molstrata.probe._probe import prepare
    from molstrata.probe.heads import head_candidates
    from molstrata.runs.probe import resolve_tasks

    out = Path(args.out)
    tasks, seeds = resolve_tasks(args.tasks), parse_seeds(args.seeds)
    heads = [h for h in args.heads.split(",") if h]
    inputs = [i for i in args.inputs.split(",") if i]
    todo = [(t, s) for t in tasks for s in seeds
            if not _unit_path(out, args.encoder, t, s).is_file()]
    print(f"{len(todo)} of {len(tasks) * len(seeds)} (task, seed) units to fit", flush=True)
    if not todo:
        return
    splits = {(t, s): load_task(t, seed=s) for t, s in todo}
    smiles = list(dict.fromkeys(x for sp in splits.values() for p in ("train", "valid", "test")
                                for x in sp.smiles(p)))
    enc = load_encoder(args.encoder, device="cpu")
    emb = embed_cached(enc, smiles, on_invalid="mask", progress=False)
    index = {s: i for i, s in enumerate(emb.smiles)}
    order = sorted(splits, key=lambda ts: (len(splits[ts].train) + len(splits[ts].valid), ts),
                   reverse=args.largest_first)
    for t, s in order:  # the small tasks first: a partial run covers the most tasks
        if _unit_path(out, args.encoder, t, s).is_file():  # written meanwhile by another worker
            continue
        split = splits[(t, s)]
        t0 = time.process_time()
        data = prepare(emb, split, index=index)
        cands = head_candidates(data, task_type=split.task_type, metric=split.metric, seed=s,
                                heads=heads, inputs=inputs, stack=not args.no_stack)
        cpu = time.process_time() - t0
        _write_unit(_unit_path(out, args.encoder, t, s), cands, len(split.test), cpu)
        best = ", ".join(f"{c.name}={c.valid_score:.3f}" for c in cands)
        print(f"{t} seed {s}: {cpu:.1f} CPU s; valid {best}", flush=True)


def _published(path: Path) -> dict[str, dict[str, str]]:
    with open(path) as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {r["task"]: r for r in rows}


def choose(units: dict[int, dict], metric: str) -> tuple[str, dict[str, float]]:
    """The decision rule: the candidate with the best mean validation score over the seeds
    (ties: the earlier candidate). Returns (name, {candidate: mean valid score})."""
    from molstrata.core.choice import clearly_better
    from molstrata.data import higher_is_better

    names = [str(n) for n in next(iter(units.values()))["names"]]
    means = {}
    for i, name in enumerate(names):
        means[name] = float(np.nanmean([u["valid"][i] for u in units.values()]))
    best = None
    for name in names:
        if not np.isfinite(means[name]):
            continue
        if best is None or clearly_better(means[name], means[best], higher_is_better(metric)):
            best = name
    return best or names[0], means


def _write_predictions(path: Path, ids, y, pred) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Drug_ID", "Y", "Y_pred"])
    for a, b, c in zip(ids, y, pred, strict=True):
        w.writerow([a, repr(float(b)), repr(float(c))])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue().encode())


def summarize(args: argparse.Namespace) -> None:
    """Choose per task on validation, then score test once; write the tables."""
    from molstrata.core.seed import parse_seeds
    from molstrata.data import evaluate, higher_is_better, load_task, mean_std
    from molstrata.encoders.registry import resolve_name
    from molstrata.runs.probe import resolve_tasks

    out = Path(args.out)
    pub = _published(Path(args.published))
    tasks, seeds = resolve_tasks(args.tasks), parse_seeds(args.seeds)
    rows, cand_rows, missing, final_rows, compare_rows = [], [], [], [], []
    for t in tasks:
        units = {s: _read_unit(_unit_path(out, args.encoder, t, s)) for s in seeds}
        if any(u is None for u in units.values()):
            missing.append(t)
            continue
        metric = load_task(t, seed=seeds[0]).metric
        pick, means = choose(units, metric)  # fixed before any test label is read
        names = [str(n) for n in units[seeds[0]]["names"]]
        scores = {n: [] for n in names}
        for s in seeds:
            split = load_task(t, seed=s)
            y = split.y("test")
            for i, n in enumerate(names):
                pred = units[s]["test_pred"][i]
                scores[n].append(float(evaluate(metric, y, pred)))
                if n == pick and args.predictions:
                    _write_predictions(Path(args.predictions) / f"{t}_seed{s}.csv.gz",
                                       split.test["Drug_ID"].astype(str), y, pred)
        valid = {n: [float(units[s]["valid"][i]) for s in seeds] for i, n in enumerate(names)}
        final_rows += [{"encoder": resolve_name(args.encoder), "task": t, "metric": metric, "seed": s, "head": n,
                        "valid_score": valid[n][j], "test_score": scores[n][j]}
                       for n in names if n.endswith(":final") for j, s in enumerate(seeds)]
        names_final = [n for n in names if n.endswith(":final")]
        if names_final and len(names_final) < len(names):
            compare_rows.append(_combine_vs_final(t, metric, units, scores))
        m, sd = mean_std(scores[pick])
        p = pub.get(t, {})
        rows.append({"task": t, "metric": metric, "strategy": pick, "test_mean": m, "test_std": sd,
                     "minimol_published": p.get("minimol_mean", ""), "tdc_top": p.get("tdc_sota_mean", "")})
        for n in names:
            cm, cs = mean_std(scores[n])
            cand_rows.append({"task": t, "metric": metric, "candidate": n, "chosen": int(n == pick),
                              "valid_mean": round(means[n], 4), "test_mean": cm, "test_std": cs})
    _write_csv(Path(args.csv), rows)
    _write_csv(Path(args.csv).with_name(Path(args.csv).stem + "_candidates.csv"), cand_rows)
    _print_count(rows, higher_is_better, missing)
    if args.final_heads:  # per-seed rows of the final-layer heads: the report's strongest single-layer control
        _write_csv(Path(args.final_heads), final_rows)
    if args.compare and compare_rows:
        _write_csv(Path(args.compare), compare_rows)
        _print_compare(compare_rows)


def _combine_vs_final(task: str, metric: str, units: dict[int, dict], scores: dict[str, list[float]]) -> dict:
    """Question (b) with tuned heads, for one task: the combining candidate (every input but
    ``final``) and the final-layer candidate, each chosen by the decision rule restricted to
    its kind (mean validation score over seeds, no test label), and their test scores."""
    from molstrata.data import delta_pct, mean_std

    names = [str(n) for n in next(iter(units.values()))["names"]]
    picks = {}
    for kind, keep in (("final", lambda n: n.endswith(":final")), ("combine", lambda n: not n.endswith(":final"))):
        idx = [i for i, n in enumerate(names) if keep(n)]
        sub = {s: {"names": [names[i] for i in idx], "valid": [u["valid"][i] for i in idx]} for s, u in units.items()}
        picks[kind] = choose(sub, metric)[0]
    fm, fs = mean_std(scores[picks["final"]])
    cm, cs = mean_std(scores[picks["combine"]])
    return {"task": task, "metric": metric, "final_head": picks["final"], "final_test_mean": fm, "final_test_std": fs,
            "combine_head": picks["combine"], "combine_test_mean": cm, "combine_test_std": cs,
            "delta_pct": round(float(delta_pct(np.mean(scores[picks["final"]]), np.mean(scores[picks["combine"]]),
                                               metric)), 4)}


def _print_compare(rows: list[dict]) -> None:
    from molstrata.report.stats import SPEARMAN, format_summary, summarize_deltas

    deltas = np.array([r["delta_pct"] for r in rows], dtype=np.float64)
    spearman = np.array([r["metric"] == SPEARMAN for r in rows])
    print("combining (tuned heads on top3 / stack) vs the tuned final-layer head, each chosen on valid:")
    print(f"  all tasks: {format_summary(summarize_deltas(deltas))}")
    print(f"  without spearman tasks: {format_summary(summarize_deltas(deltas[~spearman]))}")


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        if rows:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)


def _print_count(rows: list[dict], higher_is_better, missing: list[str]) -> None:
    above, gaps = 0, []
    for r in rows:
        if r["minimol_published"] == "":
            continue
        ref = float(r["minimol_published"])
        sign = 1.0 if higher_is_better(r["metric"]) else -1.0
        gap = sign * (r["test_mean"] - ref)
        above += gap > 0
        gaps.append(100.0 * gap / abs(ref))
        print(f"{r['task']:32s} {r['metric']:9s} {r['strategy']:22s} {r['test_mean']:.3f} ± "
              f"{r['test_std']:.3f}  published {ref:.3f}  gap {gaps[-1]:+.1f}%")
    print(f"above MiniMol's published score on {above} of {len(gaps)} task(s); median gap "
          f"{np.median(gaps) if gaps else float('nan'):+.1f}%" + (f"; missing (partial): {','.join(missing)}"
                                                                  if missing else ""))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "summarize"):
        p = sub.add_parser(name)
        p.add_argument("--encoder", default="minimol")
        p.add_argument("--tasks", default="admet")
        p.add_argument("--seeds", default="1-5")
        p.add_argument("--out", default="runs/heads")
    r = sub.choices["run"]
    r.add_argument("--heads", default="mlp-tuned,gbdt-tuned")
    r.add_argument("--inputs", default="final,top3")
    r.add_argument("--no-stack", action="store_true")
    r.add_argument("--largest-first", action="store_true",
                   help="fit the largest tasks first (a second worker beside one running small-first)")
    s = sub.choices["summarize"]
    s.add_argument("--published", default=str(PUBLISHED))
    s.add_argument("--csv", default="benchmarks/results/leaderboard_minimol.csv")
    s.add_argument("--predictions", default=None, help="folder for <task>_seed<s>.csv.gz")
    s.add_argument("--final-heads", default=None,
                   help="write the final-layer heads' per-seed scores here (final_heads.csv of a probe run's report)")
    s.add_argument("--compare", default=None,
                   help="write, per task, the combining candidate vs the final-layer head (each chosen on valid)")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    (run if args.cmd == "run" else summarize)(args)


if __name__ == "__main__":
    sys.exit(main())
