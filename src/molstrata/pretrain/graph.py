"""Label-free pretraining of the built-in GINE graph encoder by RDKit-descriptor regression.

Objective: predict ~120 standardised RDKit 2D descriptors (:mod:`molstrata.pretrain.descriptors`)
from mean-pooled node states, with an MSE loss, as CheMeleon does with Mordred descriptors.
``supervise`` says from where:

* ``"every-layer"`` (default): one linear head per message-passing layer (1..num_layers) on
  that layer's mean-pooled states; the loss is the mean of the layers' MSEs. molstrata reads
  and probes every layer with linear models, so every layer is asked to carry the
  descriptors linearly (deep supervision), not only the last one.
* ``"last"``: an MLP head on the last layer only (the first recipe of ``molstrata-graph``).

Why this objective: it needs no labels, it is cheap on CPU (no negative sampling
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from molstrata.core.errors import ConfigError
from molstrata.pretrain._loop import (
    CKPT_DIR,
    MODEL_DIR,
    load_checkpoint,
    open_run,
    prepare_corpus,
    script_main,
    train_loop,
    warmup_linear_decay,
    write_run_config,
    write_summary,
)

__all__ = ["CKPT_DIR", "MODEL_DIR", "DescriptorHead", "GraphPretrainConfig", "batch_indices",
           "evaluate", "export_graph_model", "train_graph"]


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
    supervise: str = "every-layer"

    def __post_init__(self) -> None:
        if self.supervise not in SUPERVISE:
            raise ConfigError(f"supervise={self.supervise!r}: choose one of {', '.join(SUPERVISE)}")

    def model_keys(self) -> dict:
        keep = ("steps", "batch_size", "lr", "weight_decay", "warmup_frac", "num_layers",
                "hidden", "dropout", "seed", "stats_molecules", "supervise")
        return {k: getattr(self, k) for k in keep}


#: where the descriptor heads read from (see the module docstring)
SUPERVISE = ("every-layer", "last")


class DescriptorHead:
    """Factory for the regression heads (see ``supervise`` in the module docstring).

    ``every-layer``: a ``ModuleList`` of ``num_layers`` linear maps hidden → n_descriptors;
    ``last``: one MLP hidden → hidden → n_descriptors.
    """

    @staticmethod
    def build(hidden: int, n_out: int, supervise: str, num_layers: int = 1) -> Any:
        from torch import nn

        if supervise == "every-layer":
            return nn.ModuleList(nn.Linear(hidden, n_out) for _ in range(num_layers))
        return nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


def _predict(model: Any, head: Any, batch: Any) -> list[Any]:
    """Descriptor predictions, one (n_molecules, n_descriptors) tensor per supervised layer
    (the last one last)."""
    from torch import nn
    from torch_geometric.nn import global_mean_pool

    states = model(batch.x, batch.edge_index, batch.edge_attr)
    if isinstance(head, nn.ModuleList):  # every-layer: layers 1..num_layers
        return [h(global_mean_pool(s, batch.batch)) for h, s in zip(head, states[1:], strict=True)]
    return [head(global_mean_pool(states[-1], batch.batch))]


def _loss(preds: list[Any], y: Any) -> Any:
    """Mean over the supervised layers of the MSE in standardised units."""
    import torch

    return torch.stack([torch.nn.functional.mse_loss(p, y) for p in preds]).mean()


def batch_indices(n: int, cfg: GraphPretrainConfig, step: int) -> np.ndarray:
    """Rows of the training corpus used at ``step`` (depends only on seed and step)."""
    rng = np.random.default_rng([cfg.seed, step])
    return rng.integers(cfg.stats_molecules, n, size=cfg.batch_size)


def _targets(smiles: list[str], stats: dict, names: list[str]) -> Any:
    import torch

    from molstrata.pretrain.descriptors import apply_standardizer, compute_descriptors

    return torch.from_numpy(apply_standardizer(compute_descriptors(smiles, names), stats))


def evaluate(model: Any, head: Any, smiles: list[str], y: Any) -> dict:
    """Held-out loss (the training objective: MSE in standardised units, averaged over the
    supervised layers), mean R² over descriptors at the last layer (``r2_mean``) and at the
    worst supervised layer (``r2_min_layer``)."""
    import torch

    from molstrata.encoders.graph.graph_features import batch_graphs

    model.eval()
    head.eval()
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(smiles), 256):
            chunks.append(_predict(model, head, batch_graphs(smiles[start : start + 256])))
    model.train()
    head.train()
    preds = [torch.cat(layer) for layer in zip(*chunks, strict=True)]
    var = y.var(dim=0, unbiased=False)
    keep = var > 1e-6
    r2 = [float((1 - ((p - y) ** 2).mean(dim=0)[keep] / var[keep]).mean()) for p in preds]
    return {"loss": float(_loss(preds, y)), "r2_mean": r2[-1], "r2_min_layer": min(r2)}


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

    from molstrata.encoders.graph.gin import GINE
    from molstrata.encoders.graph.graph_features import batch_graphs
    from molstrata.pretrain.descriptors import (
        compute_descriptors,
        descriptor_names,
        fit_standardizer,
    )

    cfg = cfg or GraphPretrainConfig()
    out = open_run(out, cfg, resume)
    train, valid, corpus_info = prepare_corpus(corpus, out, data_dir, n_valid, cfg.seed)
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
    write_run_config(out, cfg, corpus_info)
    valid_eval = valid[: cfg.n_eval]
    y_valid = _targets(valid_eval, stats, names)

    torch.manual_seed(cfg.seed)
    model = GINE(hidden=cfg.hidden, num_layers=cfg.num_layers, dropout=cfg.dropout)
    head = DescriptorHead.build(cfg.hidden, len(names), cfg.supervise, cfg.num_layers)
    modules = {"model": model, "head": head}  # checkpoint/model.safetensors, head.safetensors
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_linear_decay(cfg))
    step, elapsed0 = 0, 0.0
    if resume:
        step, elapsed0 = load_checkpoint(out, modules, opt, sched)

    def train_step(step: int) -> tuple[Any, dict[str, float]]:
        smi = [train[i] for i in batch_indices(len(train), cfg, step)]
        y = _targets(smi, stats, names)
        loss = _loss(_predict(model, head, batch_graphs(smi)), y)
        return loss, {"loss": float(loss.detach()), "n": 1}

    end = train_loop(
        out, cfg, modules=modules, params=params, opt=opt, sched=sched, step=step,
        elapsed0=elapsed0, train_step=train_step,
        train_record=lambda sums: {"loss": sums["loss"] / max(sums["n"], 1)},
        evaluate=lambda: evaluate(model, head, valid_eval, y_valid), desc="graph-desc",
        progress=progress,
    )
    summary = end.summary(cfg, corpus_info, valid_r2_mean=end.last_eval["r2_mean"],
                          valid_r2_min_layer=end.last_eval["r2_min_layer"],
                          objective="rdkit-descriptor-regression", supervise=cfg.supervise,
                          n_descriptors=len(names))
    export_graph_model(model.eval(), out / MODEL_DIR, {"pretraining": summary, "descriptor_names": names})
    write_summary(out, summary)
    return summary


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - thin entry point
    script_main(GraphPretrainConfig, train_graph,
                "molstrata graph pretraining (descriptor regression)", argv)


if __name__ == "__main__":  # pragma: no cover
    main()
