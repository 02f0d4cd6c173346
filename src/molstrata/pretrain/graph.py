"""Label-free pretraining of the built-in GINE graph encoder by RDKit-descriptor regression.

Objective: predict ~120 standardised RDKit 2D descriptors (:mod:`molstrata.pretrain.descriptors`)
from the mean-pooled last-layer node states, with an MSE loss, as CheMeleon does with Mordred
descriptors. Why this objective: it needs no labels, it is cheap on CPU (no negative sampling
or substructure extraction as in context prediction), and the descriptors (logP, TPSA, charge
and surface-area partitions, ring and atom counts...) are exactly the physico-chemical
quantities that ADMET endpoints depend on, so the encoder's layers are pushed to encode them.

Descriptors are computed on the fly for each batch (the batch depends only on seed and step),
so no precompute pass is needed; the clip/standardise statistics come from a fixed block of
training molecules computed at the start (``stats_molecules``). Checkpoints hold the model,
head, optimizer, scheduler, torch RNG state, step and elapsed time; ``resume=True`` continues.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from molstrata.core.errors import ConfigError

CKPT_DIR = "checkpoint"
MODEL_DIR = "model"


@dataclass
class GraphPretrainConfig:
    """Hyper-parameters of one graph pretraining run (saved as ``run_config.json``)."""

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_frac: float = 0.05
    num_layers: int = 5
    hidden: int = 256
    dropout: float = 0.0
    seed: int = 0
    stats_molecules: int = 2000
    log_every: int = 10
    eval_every: int = 100
    n_eval: int = 500
    checkpoint_minutes: float = 5.0
    max_minutes: float | None = None
    threads: int = 1

    def model_keys(self) -> dict:
        keep = ("steps", "batch_size", "lr", "weight_decay", "warmup_frac", "num_layers",
                "hidden", "dropout", "seed", "stats_molecules")
        return {k: getattr(self, k) for k in keep}


class DescriptorHead:
    """Factory for the regression head: mean-pooled last layer → MLP → n_descriptors."""

    @staticmethod
    def build(hidden: int, n_out: int) -> Any:
        from torch import nn

        return nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


def _pool_last(model: Any, batch: Any) -> Any:
    from torch_geometric.nn import global_mean_pool

    states = model(batch.x, batch.edge_index, batch.edge_attr)
    return global_mean_pool(states[-1], batch.batch)


def batch_indices(n: int, cfg: GraphPretrainConfig, step: int) -> np.ndarray:
    """Rows of the training corpus used at ``step`` (depends only on seed and step)."""
    rng = np.random.default_rng([cfg.seed, step])
    return rng.integers(cfg.stats_molecules, n, size=cfg.batch_size)


def _lr_lambda(cfg: GraphPretrainConfig):
    warm = max(1, int(cfg.warmup_frac * cfg.steps))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (cfg.steps - step) / max(1, cfg.steps - warm))

    return f


def _targets(smiles: list[str], stats: dict, names: list[str]) -> Any:
    import torch

    from molstrata.pretrain.descriptors import apply_standardizer, compute_descriptors

    return torch.from_numpy(apply_standardizer(compute_descriptors(smiles, names), stats))


def evaluate(model: Any, head: Any, smiles: list[str], y: Any) -> dict:
    """Held-out MSE (standardised units) and mean R² over descriptors."""
    import torch

    from molstrata.encoders.graph_features import batch_graphs

    model.eval()
    head.eval()
    preds = []
    with torch.inference_mode():
        for start in range(0, len(smiles), 256):
            preds.append(head(_pool_last(model, batch_graphs(smiles[start : start + 256]))))
    model.train()
    head.train()
    p = torch.cat(preds)
    mse = float(((p - y) ** 2).mean())
    var = y.var(dim=0, unbiased=False)
    keep = var > 1e-6
    r2 = 1 - ((p - y) ** 2).mean(dim=0)[keep] / var[keep]
    return {"loss": mse, "r2_mean": float(r2.mean())}


def _save_checkpoint(out: Path, model: Any, head: Any, opt: Any, sched: Any, step: int,
                     elapsed: float) -> None:
    import torch
    from safetensors.torch import save_file

    tmp = out / (CKPT_DIR + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(tmp / "head.safetensors"))
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "torch_rng": torch.get_rng_state(), "step": step, "elapsed": elapsed},
               tmp / "trainer_state.pt")
    final, old = out / CKPT_DIR, out / (CKPT_DIR + ".old")
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def _load_checkpoint(out: Path, model: Any, head: Any, opt: Any, sched: Any) -> tuple[int, float]:
    import torch
    from safetensors.torch import load_file

    ck = out / CKPT_DIR
    if not (ck / "trainer_state.pt").is_file():
        old = out / (CKPT_DIR + ".old")
        if not (old / "trainer_state.pt").is_file():
            raise ConfigError(f"--resume given but no checkpoint found in {out / CKPT_DIR}")
        ck = old
    model.load_state_dict(load_file(str(ck / "model.safetensors")))
    head.load_state_dict(load_file(str(ck / "head.safetensors")))
    state = torch.load(ck / "trainer_state.pt", weights_only=True)
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"]), float(state["elapsed"])


def export_graph_model(model: Any, folder: str | Path, meta: dict) -> Path:
    """Write ``model.safetensors`` (the GINE only) and ``config.json`` (architecture + meta)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({**model.config, **meta}, indent=2))
    return folder


def train_graph(
    corpus: list[str | Path],
    out: str | Path,
    cfg: GraphPretrainConfig | None = None,
    *,
    data_dir: str | Path | None = None,
    resume: bool = False,
    n_valid: int = 2000,
    progress: bool = True,
) -> dict:
    """Pretrain (or continue) the GINE by descriptor regression; return the final summary.

    Parameters
    ----------
    corpus : a corpus folder or SMILES files (see :func:`molstrata.pretrain.smiles_mlm.train_smiles_mlm`)
    out : run folder: ``checkpoint/``, ``model/``, ``stats.json``, ``log.jsonl``, ``summary.json``
    resume : continue from ``out/checkpoint`` (settings must match ``run_config.json``)
    """
    import torch
    from tqdm.auto import tqdm

    from molstrata.encoders.gin import GINE
    from molstrata.encoders.graph_features import batch_graphs
    from molstrata.pretrain.descriptors import (
        compute_descriptors,
        descriptor_names,
        fit_standardizer,
    )
    from molstrata.pretrain.smiles_mlm import StopOnSignal, _prepare_corpus

    cfg = cfg or GraphPretrainConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, int(cfg.threads)))
    run_cfg_path = out / "run_config.json"
    if resume:
        if not run_cfg_path.is_file():
            raise ConfigError(f"--resume given but {run_cfg_path} does not exist; start without --resume")
        saved = json.loads(run_cfg_path.read_text())["model_keys"]
        if saved != cfg.model_keys():
            diff = {k: (saved.get(k), v) for k, v in cfg.model_keys().items() if saved.get(k) != v}
            raise ConfigError(f"--resume with different settings than the saved run (saved, now): {diff}")
    elif (out / CKPT_DIR).exists():
        raise ConfigError(f"{out} already holds a checkpoint: pass --resume, or choose a new --out")

    train, valid, corpus_info = _prepare_corpus(corpus, out, data_dir, n_valid, cfg.seed)
    if len(train) <= cfg.stats_molecules:
        raise ConfigError(
            f"corpus has {len(train)} training molecules; need more than stats_molecules={cfg.stats_molecules}"
        )
    names = descriptor_names()
    stats_path = out / "stats.json"
    if stats_path.is_file():
        stats = json.loads(stats_path.read_text())
    else:
        stats = fit_standardizer(compute_descriptors(train[: cfg.stats_molecules], names))
        stats_path.write_text(json.dumps({**stats, "names": names}))
    run_cfg_path.write_text(json.dumps({"config": asdict(cfg), "model_keys": cfg.model_keys(),
                                        "corpus": corpus_info}, indent=2))
    valid_eval = valid[: cfg.n_eval]
    y_valid = _targets(valid_eval, stats, names)

    torch.manual_seed(cfg.seed)
    model = GINE(hidden=cfg.hidden, num_layers=cfg.num_layers, dropout=cfg.dropout)
    head = DescriptorHead.build(cfg.hidden, len(names))
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    step, elapsed0 = 0, 0.0
    if resume:
        step, elapsed0 = _load_checkpoint(out, model, head, opt, sched)
    model.train()
    head.train()
    logf = (out / "log.jsonl").open("a")

    def log(rec: dict) -> None:
        logf.write(json.dumps(rec) + "\n")
        logf.flush()

    stop = StopOnSignal()  # SIGTERM / Ctrl-C: finish the step, checkpoint, export, exit
    t0 = time.monotonic()
    last_ckpt = t0
    run_loss, run_n = 0.0, 0
    last_eval: dict = {}
    stopped = "steps"
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, desc="graph-desc", unit="step")
    while step < cfg.steps:
        idx = batch_indices(len(train), cfg, step)
        smi = [train[i] for i in idx]
        y = _targets(smi, stats, names)
        pred = head(_pool_last(model, batch_graphs(smi)))
        loss = torch.nn.functional.mse_loss(pred, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        step += 1
        bar.update(1)
        run_loss += float(loss.detach())
        run_n += 1
        elapsed = elapsed0 + time.monotonic() - t0
        if step % cfg.log_every == 0 or step == cfg.steps:
            log({"step": step, "split": "train", "loss": run_loss / max(run_n, 1),
                 "lr": sched.get_last_lr()[0], "elapsed_s": round(elapsed, 1)})
            bar.set_postfix(loss=f"{run_loss / max(run_n, 1):.3f}")
            run_loss, run_n = 0.0, 0
        if step % cfg.eval_every == 0 or step == cfg.steps:
            last_eval = evaluate(model, head, valid_eval, y_valid)
            log({"step": step, "split": "valid", **last_eval, "elapsed_s": round(elapsed, 1)})
        now = time.monotonic()
        if now - last_ckpt >= cfg.checkpoint_minutes * 60:
            _save_checkpoint(out, model, head, opt, sched, step, elapsed)
            last_ckpt = now
        if cfg.max_minutes is not None and (now - t0) >= cfg.max_minutes * 60 and step < cfg.steps:
            stopped = "max_minutes"
            break
        if stop.requested and step < cfg.steps:
            stopped = "signal"
            break
    stop.restore()
    bar.close()
    elapsed = elapsed0 + time.monotonic() - t0
    if not last_eval or stopped != "steps":
        last_eval = evaluate(model, head, valid_eval, y_valid)
        log({"step": step, "split": "valid", **last_eval, "elapsed_s": round(elapsed, 1)})
    _save_checkpoint(out, model, head, opt, sched, step, elapsed)
    logf.close()
    summary = {"step": step, "steps_planned": cfg.steps, "stopped_by": stopped,
               "elapsed_s": round(elapsed, 1), "valid_loss": last_eval["loss"],
               "valid_r2_mean": last_eval["r2_mean"], "objective": "rdkit-descriptor-regression",
               "n_descriptors": len(names), "corpus": corpus_info, "config": asdict(cfg)}
    export_graph_model(model.eval(), out / MODEL_DIR, {"pretraining": summary, "descriptor_names": names})
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - thin entry point
    import argparse

    ap = argparse.ArgumentParser(description="molstrata graph pretraining (descriptor regression)")
    ap.add_argument("--corpus", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--resume", action="store_true")
    for f in GraphPretrainConfig.__dataclass_fields__.values():
        typ = float if f.type in ("float", "float | None") else int
        ap.add_argument("--" + f.name.replace("_", "-"), type=typ, default=f.default)
    args = vars(ap.parse_args(argv))
    cfg = GraphPretrainConfig(**{k: args[k] for k in GraphPretrainConfig.__dataclass_fields__})
    summary = train_graph(args["corpus"], args["out"], cfg, data_dir=args["data_dir"], resume=args["resume"])
    print(json.dumps({k: v for k, v in summary.items() if k not in ("corpus", "config")}, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
