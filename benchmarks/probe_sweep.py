"""Benchmark: molstrata's batched linear probe sweep vs a plain scikit-learn loop.

Measured side by side in one run, on 7 layers × 256 features per molecule for the union of
the 22 TDC ADMET tasks' molecules (the shapes of the built-in 6-block, 256-wide
``molstrata-smiles``), from one of two sources:

* ``--source roberta-random`` (default): embeddings of a 6-layer, 256-wide RoBERTa with
  **random initial weights** (seed 0; tokenizer built from the ADMET SMILES), computed once
  into a cache (timed apart);
* ``--source encoder --encoder NAME``: a registered encoder's embeddings (e.g. the built-in
  ``default``), read from the cache under ``--workdir`` (computed there once when missing);
  ``--tasks`` limits the molecules to some tasks';
* ``--source synthetic``: synthetic float32 arrays of the same shapes in which every task's
  standardised label is written along its own random direction, with a strength that
  varies with depth, plus correlated noise (for a machine too busy to embed 46k molecules).

1. Loads the 22 tasks (TDC files, PyTDC-identical splits) and builds the embeddings.
2. Side by side, on ``--compare-tasks`` × ``--compare-seeds``: molstrata's
   ``LinearProbe`` (one eigendecomposition per layer for the whole grid, batched across
   layers) vs a straightforward scikit-learn loop per layer over the same grid
   (``StandardScaler`` once per layer, then ``Ridge(alpha)`` / ``LogisticRegression(C)`` per
   grid value, scored on valid, best kept): wall time ratio, and whether both pick the same
   regularisation per layer and the same layer per (task, seed).
3. The full probe sweep over 22 tasks × all layers × seeds 1-5 (linear probe; what
   ``molstrata probe`` does once embeddings are cached: gather rows, fit and tune every
   layer, select on valid, score test, write the tables): wall time.

Usage::

    MOLSTRATA_DATA_DIR=../shared/data python benchmarks/probe_sweep.py --threads 2

Prints one table; ``--json FILE`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

COMPARE_TASKS = "caco2_wang,lipophilicity_astrazeneca,ppbr_az,hia_hou,herg,bbb_martins,ames"


def build_model(folder: Path, smiles: list[str]) -> Path:
    """A random-init 6-layer, 256-wide RoBERTa with the regex SMILES tokenizer (seed 0)."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import RobertaConfig, RobertaModel

    from molstrata.pretrain.tokenizer import build_smiles_tokenizer, save_tokenizer

    tok = build_smiles_tokenizer(smiles, model_max_length=128)
    torch.manual_seed(0)
    cfg = RobertaConfig(
        vocab_size=len(tok), hidden_size=256, num_hidden_layers=6, num_attention_heads=8,
        intermediate_size=1024, max_position_embeddings=130, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )
    folder.mkdir(parents=True, exist_ok=True)
    RobertaModel(cfg).eval().save_pretrained(folder)
    save_tokenizer(tok, folder)
    return folder


def synthetic_embeddings(smiles: list[str], splits: list, *, n_layers: int, dim: int, seed: int):
    """float32 (n_molecules, dim) arrays per layer carrying every task's label signal.

    Each task writes its standardised train+valid+test labels along its own random unit
    direction with a strength that peaks at a task-specific depth; all layers share a
    low-rank correlated background plus isotropic noise.
    """
    from molstrata.core.embeddings import LayerEmbeddings

    rng = np.random.default_rng(seed)
    n = len(smiles)
    index = {s: i for i, s in enumerate(smiles)}
    background = (rng.normal(size=(n, 16)) @ rng.normal(size=(16, dim))).astype(np.float32)
    tasks = []
    for split in splits:
        rows = np.array([index[s] for p in ("train", "valid", "test") for s in split.smiles(p)])
        y = np.concatenate([split.part(p)["Y"].to_numpy(float) for p in ("train", "valid", "test")])
        y = ((y - y.mean()) / (y.std() or 1.0)).astype(np.float32)
        direction = rng.normal(size=dim).astype(np.float32)
        tasks.append((rows, y, direction / np.linalg.norm(direction), rng.uniform(0.2, 0.9)))
    layers = []
    for k in range(n_layers):
        x = background * np.float32(0.5 + k / n_layers) + rng.standard_normal((n, dim), dtype=np.float32)
        for rows, y, direction, peak in tasks:
            strength = np.float32(1.5 * np.exp(-((k / (n_layers - 1) - peak) ** 2) / 0.1))
            x[rows] += strength * y[:, None] * direction[None, :]
        layers.append(x)
    layers = tuple(layers)
    return LayerEmbeddings(layers=layers, valid=np.ones(n, bool), smiles=tuple(smiles), encoder="synthetic")


def sklearn_layer_loop(data, task_type: str, metric: str, grid: np.ndarray, warm_start: bool = True,
                       tol: float = 1e-4):
    """scikit-learn: per layer, a scaler then one model per grid value, scored on valid.

    With ``warm_start`` (the skilled loop, default) one ``LogisticRegression(warm_start=True)``
    is refit along the C grid in increasing order, each fit starting from the previous
    solution; without it (the obvious loop) every C starts from zero. Ridge is one fit per
    alpha either way. ``tol``: ``LogisticRegression``'s stopping tolerance (scikit-learn's
    default 1e-4; molstrata's probe stops at a max-abs gradient of the mean loss of 1e-6).

    Returns valid scores (n_layers,) at the best grid value and the chosen values (n_layers,).
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    from molstrata.data import evaluate
    from molstrata.probe.scoring import greater_is_better

    better = greater_is_better(metric)
    best_scores, best_params = [], []
    for X, Xv in zip(data.train, data.valid, strict=True):
        scaler = StandardScaler().fit(X.astype(np.float64))
        Xs, Xvs = scaler.transform(X.astype(np.float64)), scaler.transform(Xv.astype(np.float64))
        scores = np.empty(len(grid))
        model = LogisticRegression(max_iter=1000, warm_start=warm_start, tol=tol)
        for j in np.argsort(grid, kind="stable"):  # increasing C: each solution warms the next
            g = grid[j]
            if task_type == "regression":
                pred = Ridge(alpha=g).fit(Xs, data.y_train).predict(Xvs)
            else:
                model.set_params(C=g)
                pred = model.fit(Xs, data.y_train).predict_proba(Xvs)[:, 1]
            scores[j] = evaluate(metric, data.y_valid, pred)
        j = int(np.argmax(scores) if better else np.argmin(scores))
        best_scores.append(scores[j])
        best_params.append(grid[j])
    return np.asarray(best_scores), np.asarray(best_params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("MOLSTRATA_DATA_DIR"))
    ap.add_argument("--workdir", default="/tmp/molstrata_probe_bench", help="model, cache and run folders")
    ap.add_argument("--threads", type=int, default=2, help="torch and BLAS threads, for both sides")
    ap.add_argument("--compare-tasks", default=COMPARE_TASKS)
    ap.add_argument("--compare-seeds", default="1")
    ap.add_argument("--seeds", default="1,2,3,4,5", help="seeds of the full sweep")
    ap.add_argument("--source", choices=("roberta-random", "synthetic", "encoder"), default="roberta-random",
                    help="encoder: the embeddings of --encoder (a registered name), from the cache")
    ap.add_argument("--encoder", default="default", help="with --source encoder")
    ap.add_argument("--tasks", default="admet",
                    help="tasks whose molecules are embedded and swept (default: the 22 ADMET tasks)")
    ap.add_argument("--skip-full", action="store_true", help="only the side-by-side comparison")
    ap.add_argument("--json", default=None, help="also write the numbers to this file")
    ap.add_argument("--sklearn-tol", type=float, default=1e-4,
                    help="LogisticRegression's tol (default: scikit-learn's own, 1e-4; 1e-6 solves "
                         "about as tightly as molstrata's probe, whose scores it then matches)")
    ap.add_argument("--sklearn", choices=("skilled", "plain"), default="skilled",
                    help="skilled: logistic fits warm-started along the C grid; plain: each from zero")
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    from molstrata.core.seed import parse_seeds
    from molstrata.data import list_tasks, load_task
    from molstrata.embeddings import embed_cached
    from molstrata.encoders import load_encoder
    from molstrata.probe import DEFAULT_ALPHAS, DEFAULT_CS
    from molstrata.probe._probe import assemble, fit_layers, prepare
    from molstrata.probe.outputs import write_tables
    from molstrata.probe.selection import select_layer
    from molstrata.report import build_report

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    work = Path(args.workdir)
    os.environ["MOLSTRATA_CACHE_DIR"] = str(work / "cache")
    tasks = list_tasks(args.tasks) if args.tasks == "admet" else [t.strip() for t in args.tasks.split(",")]
    report: dict = {"threads": args.threads, "load_avg_start": os.getloadavg()[0], "sklearn": args.sklearn}

    t0 = time.perf_counter()
    splits = {(t, 1): load_task(t, 1, args.data_dir) for t in tasks}
    all_splits = dict(splits)
    smiles = list(dict.fromkeys(
        s for sp in splits.values() for part in ("train", "valid", "test") for s in sp.smiles(part)
    ))
    report["load_tasks_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if args.source == "synthetic":
        enc_name = "synthetic-7x256"
        emb = synthetic_embeddings(smiles, list(splits.values()), n_layers=7, dim=256, seed=0)
    else:
        model_dir = None if args.source == "encoder" else build_model(work / "roberta6x256_random", smiles)
        enc = load_encoder(args.encoder if model_dir is None else str(model_dir))
        enc_name = enc.name
        emb = embed_cached(enc, smiles, on_invalid="mask", progress=True)
    report["embed_s"] = time.perf_counter() - t0
    report["source"] = args.source
    report["n_molecules"] = len(smiles)
    report["n_layers"] = emb.n_layers
    report["dims"] = sorted(set(emb.dims))
    print(f"{args.source}: {len(smiles)} molecules, {emb.n_layers} layers x {emb.dims[0]} "
          f"in {report['embed_s']:.1f}s")
    index = {s: i for i, s in enumerate(emb.smiles)}
    # warm-up (imports, first-call initialisations) outside every timing, for both sides
    warm = prepare(emb, splits[("caco2_wang", 1)], index=index)
    fit_layers(warm, model="linear", task_type="regression", metric="mae", seed=1)
    sklearn_layer_loop(dataclasses.replace(warm, train=warm.train[:1], valid=warm.valid[:1]),
                       "regression", "mae", np.asarray([1.0]))

    # ------------------------------------------------------------ side by side
    rows = []
    for t in [x.strip() for x in args.compare_tasks.split(",") if x.strip()]:
        for seed in parse_seeds(args.compare_seeds):
            split = load_task(t, seed, args.data_dir)
            data = prepare(emb, split, index=index)
            grid = np.asarray(DEFAULT_ALPHAS if split.task_type == "regression" else DEFAULT_CS)
            t0, c0 = time.perf_counter(), time.process_time()
            cells = fit_layers(data, model="linear", task_type=split.task_type, metric=split.metric, seed=seed)
            ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
            ours = assemble(cells, split, encoder=enc_name, model="linear")
            t0, c0 = time.perf_counter(), time.process_time()
            sk_scores, sk_params = sklearn_layer_loop(data, split.task_type, split.metric, grid,
                                                      warm_start=args.sklearn == "skilled",
                                                      tol=args.sklearn_tol)
            sk_s, sk_cpu = time.perf_counter() - t0, time.process_time() - c0
            sk_layer = select_layer(sk_scores, split.metric)
            rows.append({
                "task": t, "seed": seed, "n_train": len(data.y_train), "type": split.task_type,
                "molstrata_s": ours_s, "sklearn_s": sk_s, "speedup": sk_s / ours_s,
                "molstrata_cpu_s": ours_cpu, "sklearn_cpu_s": sk_cpu, "speedup_cpu": sk_cpu / ours_cpu,
                "same_params": int((np.isclose(ours.params, sk_params)).sum()),
                "n_layers": ours.n_layers, "layer_molstrata": ours.selected_layer,
                "layer_sklearn": sk_layer,
                "max_abs_valid_diff": float(np.max(np.abs(ours.valid_scores - sk_scores))),
            })
            # the equality: the same selected layer, and valid scores within 1e-9
            # relative (ridge) or 1e-4 of the metric (logistic)
            diff = rows[-1]["max_abs_valid_diff"]
            bound = 1e-9 * float(np.max(np.abs(ours.valid_scores))) if split.task_type == "regression" else 1e-4
            rows[-1]["equal"] = bool(diff <= bound and ours.selected_layer == sk_layer)
            r = rows[-1]
            print(f"{t:28s} seed {seed} n={r['n_train']:5d} wall: molstrata {ours_s:7.2f}s sklearn "
                  f"{sk_s:8.2f}s x{r['speedup']:5.1f} | CPU: {ours_cpu:6.2f}s vs {sk_cpu:7.2f}s "
                  f"x{r['speedup_cpu']:5.1f} | same grid value {r['same_params']}/{r['n_layers']} "
                  f"layers  selected {r['layer_molstrata']} vs {r['layer_sklearn']}  "
                  f"max |valid diff| {r['max_abs_valid_diff']:.2e}", flush=True)
    tot_ours = sum(r["molstrata_s"] for r in rows)
    tot_sk = sum(r["sklearn_s"] for r in rows)
    cpu_ours = sum(r["molstrata_cpu_s"] for r in rows)
    cpu_sk = sum(r["sklearn_cpu_s"] for r in rows)
    report["compare"] = rows
    if rows:
        report["compare_total"] = {
            "molstrata_s": tot_ours, "sklearn_s": tot_sk, "speedup": tot_sk / tot_ours,
            "molstrata_cpu_s": cpu_ours, "sklearn_cpu_s": cpu_sk, "speedup_cpu": cpu_sk / cpu_ours,
            "same_selected_layer": sum(r["layer_molstrata"] == r["layer_sklearn"] for r in rows),
            "n_runs": len(rows), "equal_runs": sum(r["equal"] for r in rows),
            "sklearn_tol": args.sklearn_tol,
        }
        print(f"side by side: wall molstrata {tot_ours:.1f}s vs {args.sklearn} sklearn loop "
              f"(LogisticRegression tol {args.sklearn_tol:g}) {tot_sk:.1f}s -> "
              f"x{tot_sk / tot_ours:.1f}; CPU {cpu_ours:.1f}s vs {cpu_sk:.1f}s -> x{cpu_sk / cpu_ours:.1f}; "
              f"same selected layer in "
              f"{report['compare_total']['same_selected_layer']}/{len(rows)} (task, seed) runs; equal "
              f"(same layer, valid scores within 1e-9 relative for ridge, 1e-4 for logistic) in "
              f"{report['compare_total']['equal_runs']}/{len(rows)}")

    # ------------------------------------------------------------ full sweep
    if not args.skip_full:
        seeds = parse_seeds(args.seeds)
        t0 = time.perf_counter()
        for t in tasks:  # the splits of every seed (TDC files parsed once, above)
            for sd in seeds:
                all_splits[(t, sd)] = all_splits.get((t, sd)) or load_task(t, sd, args.data_dir)
        report["load_splits_s"] = time.perf_counter() - t0
        out = work / "full_run"
        shutil.rmtree(out, ignore_errors=True)
        t0, c0 = time.perf_counter(), time.process_time()
        scores = []
        for t in tasks:
            for sd in seeds:
                split = all_splits[(t, sd)]
                data = prepare(emb, split, index=index)
                cells = fit_layers(data, model="linear", task_type=split.task_type,
                                   metric=split.metric, seed=sd)
                scores.append(assemble(cells, split, encoder=enc_name, model="linear", notes=data.notes))
        report["full_probe_s"] = time.perf_counter() - t0
        report["full_probe_cpu_s"] = time.process_time() - c0
        t0 = time.perf_counter()
        write_tables(scores, out)
        report["tables_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_report(out)
        report["report_s"] = time.perf_counter() - t0
        report["full_runs"] = len(scores)
        print(f"full sweep: {len(tasks)} tasks x {emb.n_layers} layers x seeds {args.seeds} "
              f"({len(scores)} task-seed runs): probes {report['full_probe_s']:.1f}s wall, "
              f"{report['full_probe_cpu_s']:.1f}s CPU + tables "
              f"{report['tables_s']:.1f}s (+ report figures {report['report_s']:.1f}s); splits "
              f"loaded in {report['load_tasks_s'] + report['load_splits_s']:.1f}s before")
    report["load_avg_end"] = os.getloadavg()[0]
    print(f"load average: {report['load_avg_start']:.1f} at start, {report['load_avg_end']:.1f} at end "
          f"(2-core machine shared with other jobs)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
