"""Benchmark: molstrata's batched linear probe sweep vs a plain scikit-learn loop.

Measured side by side in one run, on cached embeddings of a 6-layer, 256-wide RoBERTa
(7 layer outputs) with **random initial weights** (seed 0; architecture of the built-in
``molstrata-smiles`` encoder, tokenizer built from the ADMET SMILES), so the timing does not
depend on pretrained weights being present.

1. Embeds the union of the 22 TDC ADMET tasks' molecules once into a cache (timed apart).
2. Side by side, on ``--compare-tasks`` × ``--compare-seeds``: molstrata's
   ``LinearProbe`` (one eigendecomposition per layer for the whole grid, batched across
   layers) vs a straightforward scikit-learn loop per layer over the same grid
   (``StandardScaler`` once per layer, then ``Ridge(alpha)`` / ``LogisticRegression(C)`` per
   grid value, scored on valid, best kept): wall time ratio, and whether both pick the same
   regularisation per layer and the same layer per (task, seed).
3. The full ``molstrata.probe.sweep`` over 22 tasks × all layers × seeds 1-5 (linear probe,
   embeddings from the warm cache): wall time.

Usage::

    MOLSTRATA_DATA_DIR=../shared/data python benchmarks/probe_sweep.py --threads 2

Prints one table; ``--json FILE`` also writes the numbers.
"""

from __future__ import annotations

import argparse
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


def sklearn_layer_loop(data, task_type: str, metric: str, grid: np.ndarray):
    """Plain scikit-learn: per layer, a scaler then one model per grid value, scored on valid.

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
        scores = []
        for g in grid:
            if task_type == "regression":
                pred = Ridge(alpha=g).fit(Xs, data.y_train).predict(Xvs)
            else:
                pred = LogisticRegression(C=g, max_iter=1000).fit(Xs, data.y_train).predict_proba(Xvs)[:, 1]
            scores.append(evaluate(metric, data.y_valid, pred))
        scores = np.asarray(scores)
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
    ap.add_argument("--skip-full", action="store_true", help="only the side-by-side comparison")
    ap.add_argument("--json", default=None, help="also write the numbers to this file")
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    from molstrata.data import list_tasks, load_task
    from molstrata.embeddings import embed_cached
    from molstrata.encoders import load_encoder
    from molstrata.probe import DEFAULT_ALPHAS, DEFAULT_CS
    from molstrata.probe._probe import assemble, fit_layers, prepare
    from molstrata.probe.runner import parse_seeds, sweep
    from molstrata.probe.selection import select_layer

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    work = Path(args.workdir)
    os.environ["MOLSTRATA_CACHE_DIR"] = str(work / "cache")
    tasks = list_tasks("admet")
    report: dict = {"threads": args.threads, "load_avg_start": os.getloadavg()[0]}

    t0 = time.perf_counter()
    splits = {(t, 1): load_task(t, 1, args.data_dir) for t in tasks}
    smiles = list(dict.fromkeys(
        s for sp in splits.values() for part in ("train", "valid", "test") for s in sp.smiles(part)
    ))
    report["load_tasks_s"] = time.perf_counter() - t0
    model_dir = build_model(work / "roberta6x256_random", smiles)
    enc = load_encoder(str(model_dir))
    t0 = time.perf_counter()
    emb = embed_cached(enc, smiles, on_invalid="mask", progress=True)
    report["embed_s"] = time.perf_counter() - t0
    report["n_molecules"] = len(smiles)
    report["n_layers"] = emb.n_layers
    report["dims"] = sorted(set(emb.dims))
    print(f"embedded {len(smiles)} molecules, {emb.n_layers} layers x {emb.dims[0]} "
          f"in {report['embed_s']:.1f}s (cache: {emb.meta.get('cache', {}).get('hits', '?')} hits)")
    index = {s: i for i, s in enumerate(emb.smiles)}

    # ------------------------------------------------------------ side by side
    rows = []
    for t in [x.strip() for x in args.compare_tasks.split(",") if x.strip()]:
        for seed in parse_seeds(args.compare_seeds):
            split = load_task(t, seed, args.data_dir)
            data = prepare(emb, split, index=index)
            grid = np.asarray(DEFAULT_ALPHAS if split.task_type == "regression" else DEFAULT_CS)
            t0 = time.perf_counter()
            cells = fit_layers(data, model="linear", task_type=split.task_type, metric=split.metric, seed=seed)
            ours_s = time.perf_counter() - t0
            ours = assemble(cells, split, encoder=enc.name, model="linear")
            t0 = time.perf_counter()
            sk_scores, sk_params = sklearn_layer_loop(data, split.task_type, split.metric, grid)
            sk_s = time.perf_counter() - t0
            sk_layer = select_layer(sk_scores, split.metric)
            rows.append({
                "task": t, "seed": seed, "n_train": len(data.y_train), "type": split.task_type,
                "molstrata_s": ours_s, "sklearn_s": sk_s, "speedup": sk_s / ours_s,
                "same_params": int((np.isclose(ours.params, sk_params)).sum()),
                "n_layers": ours.n_layers, "layer_molstrata": ours.selected_layer,
                "layer_sklearn": sk_layer,
                "max_abs_valid_diff": float(np.max(np.abs(ours.valid_scores - sk_scores))),
            })
            r = rows[-1]
            print(f"{t:28s} seed {seed} n={r['n_train']:5d} molstrata {ours_s:7.2f}s  sklearn "
                  f"{sk_s:8.2f}s  x{r['speedup']:6.1f}  same grid value {r['same_params']}/{r['n_layers']} "
                  f"layers  selected {r['layer_molstrata']} vs {r['layer_sklearn']}  "
                  f"max |valid diff| {r['max_abs_valid_diff']:.2e}", flush=True)
    tot_ours = sum(r["molstrata_s"] for r in rows)
    tot_sk = sum(r["sklearn_s"] for r in rows)
    report["compare"] = rows
    if rows:
        report["compare_total"] = {
            "molstrata_s": tot_ours, "sklearn_s": tot_sk, "speedup": tot_sk / tot_ours,
            "same_selected_layer": sum(r["layer_molstrata"] == r["layer_sklearn"] for r in rows),
            "n_runs": len(rows),
        }
        print(f"side by side: molstrata {tot_ours:.1f}s vs sklearn loop {tot_sk:.1f}s -> "
              f"x{tot_sk / tot_ours:.1f}; same selected layer in "
              f"{report['compare_total']['same_selected_layer']}/{len(rows)} (task, seed) runs")

    # ------------------------------------------------------------ full sweep
    if not args.skip_full:
        out = work / "full_run"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        run = sweep([enc], "admet", args.seeds, out=out, data_dir=args.data_dir, report=False, progress=True)
        report["full_sweep_s"] = time.perf_counter() - t0
        report["full_sweep_runs"] = len(run.scores)
        t0 = time.perf_counter()
        from molstrata.report import build_report

        build_report(out)
        report["report_s"] = time.perf_counter() - t0
        print(f"full sweep: {len(tasks)} tasks x {emb.n_layers} layers x seeds {args.seeds} "
              f"({len(run.scores)} task-seed runs) in {report['full_sweep_s']:.1f}s "
              f"(embeddings from the warm cache; report {report['report_s']:.1f}s more)")
    report["load_avg_end"] = os.getloadavg()[0]
    print(f"load average: {report['load_avg_start']:.1f} at start, {report['load_avg_end']:.1f} at end "
          f"(2-core machine shared with other jobs)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
