"""Masked-language-model pretraining of the built-in RoBERTa SMILES encoder.

Recipe
------
* atom-level regex tokenizer (:mod:`molstrata.pretrain.tokenizer`), vocabulary from the
  training split of the corpus;
* ``RobertaForMaskedLM`` (default 6 layers, hidden 256, 4 heads, FFN 512, 128 tokens);
* randomised-SMILES augmentation (RDKit ``MolToRandomSmilesVect`` with a per-molecule seed);
* 15 % of content tokens chosen per sequence, of which 80 % become ``<mask>``, 10 % a random
  token and 10 % stay unchanged (BERT);
* AdamW, linear warm-up then linear decay to zero over ``steps``;
* a checkpoint (model, optimizer, scheduler, RNG states, step, elapsed time) every few
  minutes and at the end, written atomically; ``resume=True`` continues from it and gives
  the same result as an uninterrupted run (batches and masks depend only on seed and step);
* ``init_from``: warm start from an exported MLM folder (its tokenizer and weights; fresh
  optimizer and schedule), to continue a shipped model's pretraining in a new stage;
* ``log.jsonl``: train loss/accuracy every ``log_every`` steps and held-out loss and
  masked-token accuracy every ``eval_every`` steps.

Run it from the CLI (``molstrata pretrain smiles``) or ``python -m molstrata.pretrain.smiles_mlm``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from molstrata.core.errors import ConfigError
from molstrata.pretrain._loop import (
    CKPT_DIR,
    MODEL_DIR,
    StopOnSignal,
    earlier_stages,
    load_checkpoint,
    open_run,
    prepare_corpus,
    script_main,
    train_loop,
    warmup_linear_decay,
    write_run_config,
    write_summary,
)
from molstrata.pretrain.tokenizer import build_smiles_tokenizer

__all__ = ["CKPT_DIR", "MODEL_DIR", "SmilesMLMConfig", "StopOnSignal", "build_model", "evaluate",
           "export_model", "make_batch", "mask_tokens", "masked_metrics", "randomize_smiles",
           "train_smiles_mlm"]


@dataclass
class SmilesMLMConfig:
    """Hyper-parameters of one MLM run (saved as ``run_config.json``; resume checks it)."""

    steps: int = 2000
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_frac: float = 0.05
    num_layers: int = 6
    hidden_size: int = 256
    num_heads: int = 4
    intermediate_size: int = 512
    max_length: int = 128
    mask_prob: float = 0.15
    random_smiles_prob: float = 0.8
    dropout: float = 0.1
    seed: int = 0
    log_every: int = 10
    eval_every: int = 100
    n_eval: int = 1000
    checkpoint_minutes: float = 5.0
    max_minutes: float | None = None
    threads: int = 2
    init_from: str | None = None
    extra: dict = field(default_factory=dict)

    def model_keys(self) -> dict:
        """The fields that define the model and the data stream (must match on resume)."""
        keep = ("steps", "batch_size", "lr", "weight_decay", "warmup_frac", "num_layers",
                "hidden_size", "num_heads", "intermediate_size", "max_length", "mask_prob",
                "random_smiles_prob", "dropout", "seed", "init_from")
        return {k: getattr(self, k) for k in keep}


# ----------------------------------------------------------------------------- data
def randomize_smiles(smiles: str, seed: int) -> str:
    """One randomised (non-canonical) SMILES of the same molecule, reproducible from ``seed``."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return smiles
    out = Chem.MolToRandomSmilesVect(mol, 1, randomSeed=int(seed))
    return out[0] if out else smiles


def mask_tokens(
    input_ids: Any, special_mask: Any, *, mask_id: int, vocab_size: int, n_special: int,
    mask_prob: float, generator: Any,
) -> tuple[Any, Any]:
    """BERT masking: choose ``mask_prob`` of the content tokens; 80/10/10 mask/random/keep.

    Parameters
    ----------
    input_ids : LongTensor (B, T)
    special_mask : BoolTensor (B, T), True on special and padding tokens (never chosen)
    generator : torch.Generator, the only source of randomness

    Returns
    -------
    (masked_input_ids, labels): LongTensors (B, T); labels are -100 where not chosen.
    """
    import torch

    probs = torch.full(input_ids.shape, mask_prob)
    probs.masked_fill_(special_mask, 0.0)
    chosen = torch.bernoulli(probs, generator=generator).bool()
    # at least one chosen token per sequence with content, so every sequence contributes
    has_content = (~special_mask).any(dim=1)
    none = has_content & ~chosen.any(dim=1)
    if none.any():
        scores = torch.rand(input_ids.shape, generator=generator).masked_fill(special_mask, -1.0)
        pick = scores.argmax(dim=1)
        rows = torch.nonzero(none).squeeze(1)
        chosen[rows, pick[rows]] = True
    labels = input_ids.masked_fill(~chosen, -100)
    ids = input_ids.clone()
    u = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (u < 0.8)
    to_rand = chosen & (u >= 0.8) & (u < 0.9)
    ids[to_mask] = mask_id
    rand_tok = torch.randint(n_special, vocab_size, input_ids.shape, generator=generator)
    ids[to_rand] = rand_tok[to_rand]
    return ids, labels


def make_batch(
    smiles: list[str], tokenizer: Any, cfg: SmilesMLMConfig, step: int, *, augment: bool,
    pool: np.ndarray | None = None,
) -> dict:
    """The masked batch of training step ``step``: depends only on (seed, step), never on history."""
    import torch

    rng = np.random.default_rng([cfg.seed, step])  # batch content depends on (seed, step) only
    if pool is None:
        idx = rng.integers(0, len(smiles), size=cfg.batch_size)
        chosen = [smiles[i] for i in idx]
    elif len(pool) == 0:
        chosen = list(smiles)
    else:
        # length bucketing: ``pool`` orders ``smiles`` by length; draw the batch from a window
        # of 8 batches around a random anchor, so padding (wasted CPU) stays small
        win = min(len(pool), 8 * cfg.batch_size)
        start = int(rng.integers(0, len(pool) - win + 1))
        idx = pool[start + rng.choice(win, size=min(cfg.batch_size, win), replace=False)]
        chosen = [smiles[i] for i in idx]
    if augment:
        flip = rng.random(len(chosen)) < cfg.random_smiles_prob
        seeds = rng.integers(0, 2**31 - 1, size=len(chosen))
        chosen = [randomize_smiles(s, sd) if f else s for s, f, sd in zip(chosen, flip, seeds, strict=False)]
    enc = tokenizer(chosen, padding=True, truncation=True, max_length=cfg.max_length,
                    return_tensors="pt", return_special_tokens_mask=True)
    special = enc["special_tokens_mask"].bool() | (enc["attention_mask"] == 0)
    gen = torch.Generator().manual_seed(int(cfg.seed) * 1_000_003 + int(step))
    n_special = len(tokenizer.all_special_ids)
    ids, labels = mask_tokens(
        enc["input_ids"], special, mask_id=tokenizer.mask_token_id, vocab_size=len(tokenizer),
        n_special=n_special, mask_prob=cfg.mask_prob, generator=gen,
    )
    return {"input_ids": ids, "attention_mask": enc["attention_mask"], "labels": labels}


# ----------------------------------------------------------------------------- model
def build_model(cfg: SmilesMLMConfig, tokenizer: Any) -> Any:
    """A freshly initialised ``RobertaForMaskedLM`` for ``tokenizer`` (seeded by ``cfg.seed``)."""
    import torch
    from transformers import RobertaConfig, RobertaForMaskedLM

    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_length + 2, type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
    )
    torch.manual_seed(cfg.seed)
    return RobertaForMaskedLM(config)


def load_init_model(cfg: SmilesMLMConfig) -> tuple[Any, Any]:
    """(tokenizer, ``RobertaForMaskedLM``) of the exported folder ``cfg.init_from`` (warm start).

    Raises ``ConfigError`` when the folder is missing or its architecture differs from ``cfg``.
    """
    from transformers import AutoTokenizer, RobertaForMaskedLM


    folder = Path(str(cfg.init_from))
    if not (folder / "config.json").is_file():
        raise ConfigError(f"--init-from {folder}: not an exported MLM folder (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = RobertaForMaskedLM.from_pretrained(str(folder))
    c = model.config
    want = {"num_hidden_layers": cfg.num_layers, "hidden_size": cfg.hidden_size,
            "num_attention_heads": cfg.num_heads, "intermediate_size": cfg.intermediate_size}
    diff = {k: (getattr(c, k), v) for k, v in want.items() if getattr(c, k) != v}
    if diff:
        raise ConfigError(f"--init-from {folder}: architecture differs from the flags "
                          f"(saved, given): {diff}")
    return tokenizer, model


def masked_metrics(logits: Any, labels: Any) -> tuple[float, float, int]:
    """(summed cross-entropy, number correct, number of masked tokens)."""
    import torch.nn.functional as F

    sel = labels != -100
    n = int(sel.sum())
    if n == 0:
        return 0.0, 0.0, 0
    lo = logits[sel].float()
    la = labels[sel]
    loss = float(F.cross_entropy(lo, la, reduction="sum"))
    correct = float((lo.argmax(-1) == la).sum())
    return loss, correct, n


def evaluate(model: Any, tokenizer: Any, valid: list[str], cfg: SmilesMLMConfig) -> dict:
    """Held-out MLM loss and masked-token accuracy on canonical ``valid`` SMILES (fixed masks)."""
    import torch

    model.eval()
    tot_loss = tot_correct = tot_n = 0.0
    bs = 128
    with torch.inference_mode():
        for b, start in enumerate(range(0, len(valid), bs)):
            batch = make_batch(valid[start : start + bs], tokenizer, cfg, 10**9 + b, augment=False,
                               pool=np.arange(0))
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            loss, correct, n = masked_metrics(out.logits, batch["labels"])
            tot_loss += loss
            tot_correct += correct
            tot_n += n
    model.train()
    return {"loss": tot_loss / max(tot_n, 1), "acc": tot_correct / max(tot_n, 1), "n_tokens": int(tot_n)}


# ----------------------------------------------------------------------------- export
def export_model(model: Any, tokenizer: Any, folder: str | Path, meta: dict | None = None) -> Path:
    """Write an ``AutoModel``/``AutoTokenizer``-loadable folder (safetensors) plus ``training.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    # training batches leave padding/truncation switched on in the fast tokenizer's backend;
    # saved as is, the folder's tokenizer would cut long SMILES silently for every user
    backend = tokenizer.backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    tokenizer.save_pretrained(str(folder))
    if meta is not None:
        (folder / "training.json").write_text(json.dumps(meta, indent=2))
    return folder


# ----------------------------------------------------------------------------- training
def train_smiles_mlm(
    corpus: list[str | Path],
    out: str | Path,
    cfg: SmilesMLMConfig | None = None,
    *,
    data_dir: str | Path | None = None,
    resume: bool = False,
    n_valid: int = 2000,
    progress: bool = True,
) -> dict:
    """Pretrain (or continue pretraining) the SMILES MLM; return the final summary.

    Parameters
    ----------
    corpus : a corpus folder (``train.txt``/``valid.txt``/``corpus.json``) or SMILES files,
        from which a corpus without TDC test molecules is built in ``out/corpus``
    out : run folder: ``tokenizer/``, ``checkpoint/``, ``model/``, ``log.jsonl``, ``summary.json``
    cfg : hyper-parameters; on ``resume`` must match the saved ``run_config.json``
    data_dir : folder with ``admet_group/*/test.csv`` (when building a corpus)
    resume : continue from ``out/checkpoint``

    Returns
    -------
    dict with step, elapsed seconds, last train loss/acc and held-out loss/acc.
    """
    import torch

    cfg = cfg or SmilesMLMConfig()
    out = open_run(out, cfg, resume)
    train, valid, corpus_info = prepare_corpus(corpus, out, data_dir, n_valid, cfg.seed)
    tokenizer, init_model = _tokenizer(cfg, train, out / "tokenizer", resume)
    write_run_config(out, cfg, corpus_info)
    valid_eval = valid[: cfg.n_eval]
    by_length = np.argsort([len(s) for s in train], kind="stable")

    model = init_model if init_model is not None else build_model(cfg, tokenizer)
    model.train()
    opt, sched = _optimizer(model, cfg)
    modules = {"model": model}  # checkpoint/model.safetensors
    step, elapsed0 = 0, 0.0
    if resume:
        step, elapsed0 = load_checkpoint(out, modules, opt, sched, strict=False)

    def train_step(step: int) -> tuple[Any, dict[str, float]]:
        batch = make_batch(train, tokenizer, cfg, step, augment=True, pool=by_length)
        outp = model(**batch)
        with torch.no_grad():
            loss, correct, n = masked_metrics(outp.logits.detach(), batch["labels"])
        return outp.loss, {"loss": loss, "correct": correct, "n": n}

    def train_record(sums: dict[str, float]) -> dict[str, float]:
        n = max(sums["n"], 1)
        return {"loss": sums["loss"] / n, "acc": sums["correct"] / n}

    end = train_loop(
        out, cfg, modules=modules, params=list(model.parameters()), opt=opt, sched=sched,
        step=step, elapsed0=elapsed0, train_step=train_step, train_record=train_record,
        evaluate=lambda: evaluate(model, tokenizer, valid_eval, cfg), desc="smiles-mlm",
        progress=progress,
    )
    summary = end.summary(cfg, corpus_info, valid_acc=end.last_eval["acc"])
    meta = summary
    if cfg.init_from:  # keep the chain of stages, so that RUN/model can seed the next stage
        meta = {**summary, "previous_stages": earlier_stages(cfg.init_from)[0]}
    export_model(model, tokenizer, out / MODEL_DIR, meta=meta)
    write_summary(out, summary)
    return summary


def _tokenizer(cfg: SmilesMLMConfig, train: list[str], tok_dir: Path, resume: bool) -> tuple[Any, Any]:
    """The run's tokenizer (saved to ``tok_dir``) and, with ``cfg.init_from``, the model it
    continues: the earlier stage's, the saved one on ``resume``, or a new one built on ``train``."""
    from transformers import AutoTokenizer

    init_model = None
    if cfg.init_from:
        tokenizer, init_model = load_init_model(cfg)
        tokenizer.save_pretrained(str(tok_dir))
    elif resume and tok_dir.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    else:
        tokenizer = build_smiles_tokenizer(train, model_max_length=cfg.max_length)
        tokenizer.save_pretrained(str(tok_dir))
    return tokenizer, init_model


def _optimizer(model: Any, cfg: SmilesMLMConfig) -> tuple[Any, Any]:
    """AdamW (no weight decay on biases and LayerNorm) and the warmup/linear-decay schedule."""
    import torch

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "LayerNorm" in n else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_linear_decay(cfg))
    return opt, sched


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - thin entry point
    script_main(SmilesMLMConfig, train_smiles_mlm, "molstrata SMILES MLM pretraining", argv)


if __name__ == "__main__":  # pragma: no cover
    main()
