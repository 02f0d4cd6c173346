"""The training loop of one (model, learning rate) run: AdamW, warmup + linear decay,
gradient accumulation, AMP on GPU, early stopping on validation, a checkpoint every epoch.

A run killed at any point after its first checkpoint resumes from the last finished epoch
and ends with exactly the result of an uninterrupted run (CPU): the checkpoint holds the
model, optimizer, scheduler and AMP-scaler states, the torch RNG state (dropout), the epoch,
the validation history and the best-so-far state. Shuffling is derived from
``(seed, epoch)``, so it needs no saved state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from molstrata.core.choice import clearly_better
from molstrata.core.errors import ConfigError
from molstrata.core.files import atomic_write, read_cached
from molstrata.core.safeload import UntrustedFileError, load_tensors
from molstrata.data import evaluate as _evaluate
from molstrata.data._metrics import higher_is_better
from molstrata.finetune.targets import TargetScaler

if TYPE_CHECKING:
    from molstrata.finetune.model import FinetuneModel


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    Parameters
    ----------
    lr : peak learning rate of AdamW
    epochs : maximum number of epochs
    batch_size : molecules per optimizer step (split into ``grad_accum`` micro-batches)
    grad_accum : micro-batches per optimizer step; each holds ``batch_size // grad_accum``
        molecules, and the loss is weighted so the gradient equals the full batch's
    patience : stop after this many epochs without a better validation score
    warmup_frac : fraction of all optimizer steps spent in linear warmup (then linear decay)
    weight_decay : AdamW weight decay
    max_grad_norm : gradient-norm clipping (``None``: off)
    amp : mixed precision; ``None`` means on CUDA only (bf16 where supported, else fp16)
    eval_batch_size : molecules per forward pass when predicting
    seed : seeds dropout and the per-epoch shuffles
    group_by_length : batch molecules of similar SMILES length (shuffled pools of 20 batches,
        sorted, cut into batches, batch order shuffled; as HF's ``group_by_length``): less
        padding, same molecules per epoch
    """

    lr: float = 5e-5
    epochs: int = 20
    batch_size: int = 32
    grad_accum: int = 1
    patience: int = 5
    warmup_frac: float = 0.05
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    amp: bool | None = None
    eval_batch_size: int = 128
    seed: int = 1
    group_by_length: bool = True

    def __post_init__(self) -> None:
        checks = {
            "lr": self.lr > 0,
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "grad_accum": 1 <= self.grad_accum <= self.batch_size,
            "patience": self.patience >= 1,
            "warmup_frac": 0.0 <= self.warmup_frac < 1.0,
            "weight_decay": self.weight_decay >= 0,
            "eval_batch_size": self.eval_batch_size >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"invalid training option {name}={getattr(self, name)!r}")


@dataclass(frozen=True)
class Dataset:
    """Molecules and targets of one split.

    Attributes
    ----------
    smiles : tuple of str, length n_molecules, canonical and valid
    y : ndarray of float64, shape (n_molecules,)
    """

    smiles: tuple[str, ...]
    y: np.ndarray

    def __post_init__(self) -> None:
        if len(self.smiles) != len(self.y):
            raise ConfigError(f"{len(self.smiles)} SMILES but {len(self.y)} targets")

    def __len__(self) -> int:
        return len(self.smiles)


@dataclass(frozen=True)
class EpochReport:
    """What a callback sees after each epoch (its checkpoint is already on disk)."""

    epoch: int
    lr: float
    train_loss: float
    valid_score: float
    best_epoch: int
    best_score: float


@dataclass
class TrainRun:
    """The outcome of one run.

    Attributes
    ----------
    history : list of dict, one per finished epoch: ``epoch``, ``train_loss``, ``valid_score``
    best_epoch : the epoch with the best validation score (1-based)
    best_score : that score
    best_state : the model's state_dict at ``best_epoch`` (CPU tensors)
    stopped_early : True when patience ran out before ``epochs``
    """

    history: list[dict[str, float]]
    best_epoch: int
    best_score: float
    best_state: dict[str, torch.Tensor] | None = field(repr=False)
    stopped_early: bool


# ------------------------------------------------------------------------------ metrics
def is_better(score: float, best: float, metric: str) -> bool:
    """Whether ``score`` is better than ``best`` by more than the tie tolerance of
    :mod:`molstrata.core.choice` (so the earlier epoch or learning rate keeps a tie); NaN
    is never better."""
    return clearly_better(score, best, higher_is_better(metric))


def evaluate(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Score with the data stage's TDC-compatible evaluator (:func:`molstrata.data.evaluate`)."""
    return float(_evaluate(metric, np.asarray(y_true), np.asarray(y_pred)))


# ------------------------------------------------------------------------------ predict
def predict(
    model: FinetuneModel,
    smiles: Sequence[str],
    *,
    scaler: TargetScaler,
    task_type: str,
    batch_size: int = 128,
) -> np.ndarray:
    """Predictions in target units, shape (n_molecules,).

    Regression outputs are inverse-transformed with ``scaler``; classification outputs are
    probabilities (sigmoid of the logits). Molecules are batched by length and returned in
    input order.
    """
    n = len(smiles)
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    order = np.argsort([len(s) for s in smiles], kind="stable")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            raw = model([smiles[i] for i in rows])[:, 0].float()
            if task_type == "classification":
                raw = torch.sigmoid(raw)
            out[rows] = raw.cpu().numpy()
    model.train(was_training)
    if task_type == "regression":
        out = scaler.inverse_transform(out)
    return out


# ------------------------------------------------------------------------------ checkpoint
def _fingerprint(config: TrainConfig, scaler: TargetScaler, train: Dataset, valid: Dataset,
                 task_type: str, metric: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([asdict(config), asdict(scaler), task_type, metric]).encode())
    for ds in (train, valid):
        h.update("\n".join(ds.smiles).encode())
        h.update(np.ascontiguousarray(ds.y, dtype=np.float64).tobytes())
    return h.hexdigest()


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _save(path: Path, payload: dict[str, Any]) -> None:
    """Atomic: a kill or a full disk never leaves a half-written checkpoint or a temp file."""
    atomic_write(path, lambda fh: torch.save(payload, fh), cache=False)


_CHECKPOINT_KEYS = ("fingerprint", "history", "best_score", "best_epoch", "best_state",
                    "bad_epochs", "done")


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """:func:`load_checkpoint`, checking that it holds what :func:`fit` resumes from.

    :func:`fit` writes zip checkpoints: a file that is neither a zip nor a pickle (empty,
    garbage) is damage (ValueError: retrained); a legacy pickle is refused by the loader.
    """
    import zipfile

    with open(path, "rb") as fh:
        head = fh.read(1)
    if head != b"\x80" and not zipfile.is_zipfile(path):
        raise ValueError("neither a zip nor a pickle file")
    ck = load_checkpoint(path)
    if not isinstance(ck, dict) or any(k not in ck for k in _CHECKPOINT_KEYS):
        raise ValueError("not a finetune checkpoint (keys missing)")
    return ck


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`fit` (``torch.load(weights_only=True)``, zip files
    only: :func:`molstrata.core.safeload.load_tensors`)."""
    ck = load_tensors(path, what="finetune checkpoint")
    if not isinstance(ck, dict):
        raise ConfigError(f"finetune checkpoint {path} holds a {type(ck).__name__}, not a dict")
    return ck


def _amp_settings(device: torch.device, amp: bool | None) -> tuple[bool, torch.dtype]:
    use = (device.type == "cuda") if amp is None else bool(amp)
    if use and device.type != "cuda":
        raise ConfigError("amp=True needs a CUDA device; mixed precision is GPU-only here")
    if not use:
        return False, torch.bfloat16
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return use, dtype


def _loss(outputs: torch.Tensor, target: torch.Tensor, task_type: str) -> torch.Tensor:
    """Summed (not averaged) loss of a micro-batch; the caller divides by the step size."""
    if task_type == "classification":
        return torch.nn.functional.binary_cross_entropy_with_logits(
            outputs, target, reduction="sum"
        )
    return torch.nn.functional.mse_loss(outputs, target, reduction="sum")


# ------------------------------------------------------------------------------ fit
def _epoch_batches(train: Dataset, config: TrainConfig, epoch: int) -> list[np.ndarray]:
    """Row indices of each optimizer step of ``epoch``, a function of (seed, epoch) only."""
    rng = np.random.default_rng([config.seed, epoch])
    n, bs = len(train), config.batch_size
    perm = rng.permutation(n)
    if not config.group_by_length:
        return [perm[s : s + bs] for s in range(0, n, bs)]
    lengths = np.array([len(s) for s in train.smiles])
    batches = []
    pool = 20 * bs
    for p in range(0, n, pool):
        chunk = perm[p : p + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[s : s + bs] for s in range(0, len(chunk), bs)]
    return [batches[i] for i in rng.permutation(len(batches))]


def fit(
    model: FinetuneModel,
    train: Dataset,
    valid: Dataset,
    *,
    task_type: str,
    metric: str,
    config: TrainConfig,
    scaler: TargetScaler,
    checkpoint: str | Path | None = None,
    callbacks: Sequence[Callable[[EpochReport], None]] = (),
) -> TrainRun:
    """Train ``model`` on ``train``, early-stopped on the validation score.

    Parameters
    ----------
    model : the truncated encoder with its head, at its initial weights
    train, valid : :class:`Dataset`; ``train.y`` in target units (scaled here with ``scaler``)
    task_type : ``"regression"`` (MSE on standardised targets) or ``"classification"``
        (BCE with logits)
    metric : the task's metric, scored on validation predictions in target units
    config : :class:`TrainConfig`
    scaler : fitted on ``train`` targets only
    checkpoint : file written after every epoch; if it exists, the run resumes from it
        (it must come from the same config and data, else :class:`ConfigError`)
    callbacks : called with an :class:`EpochReport` after each epoch's checkpoint

    Returns
    -------
    TrainRun; ``model`` is left at its best-epoch weights.
    """
    if len(train) == 0 or len(valid) == 0:
        raise ConfigError(f"empty split: {len(train)} training and {len(valid)} validation molecules")
    use_amp, amp_dtype = _amp_settings(model.device, config.amp)
    optimizer, scheduler, grad_scaler = _optimizers(model, train, config, use_amp, amp_dtype)
    y_train = torch.from_numpy(scaler.transform(train.y))
    fingerprint = _fingerprint(config, scaler, train, valid, task_type, metric)
    history: list[dict[str, float]] = []
    best_score, best_epoch, best_state, bad_epochs = float("nan"), 0, None, 0
    start_epoch, stopped = 1, False
    path = Path(checkpoint) if checkpoint is not None else None
    ck = _read_resumable(path, fingerprint)
    if ck is not None:
        history, best_score, best_epoch = ck["history"], ck["best_score"], ck["best_epoch"]
        best_state, bad_epochs, stopped = ck["best_state"], ck["bad_epochs"], ck["done"]
        if stopped:
            if best_state is not None:
                model.load_state_dict(best_state)
            return TrainRun(history, best_epoch, best_score, best_state, ck["stopped_early"])
        _restore(ck, model, optimizer, scheduler, grad_scaler)
        start_epoch = ck["epoch"] + 1
    stopped_early = False
    for epoch in range(start_epoch, config.epochs + 1):
        total_loss = _train_epoch(model, train, y_train, config, epoch, optimizer, scheduler,
                                  grad_scaler, use_amp, amp_dtype, task_type)
        pred = predict(model, valid.smiles, scaler=scaler, task_type=task_type,
                       batch_size=config.eval_batch_size)
        score = evaluate(metric, valid.y, pred)
        history.append({"epoch": epoch, "train_loss": total_loss / len(train), "valid_score": score})
        if is_better(score, best_score, metric):
            best_score, best_epoch, best_state, bad_epochs = score, epoch, _cpu_state(model), 0
        else:
            bad_epochs += 1
        stopped_early = bad_epochs >= config.patience and epoch < config.epochs
        done = stopped_early or epoch == config.epochs
        if path is not None:  # a finished run keeps only what selection needs
            _save(path, {
                "fingerprint": fingerprint, "epoch": epoch, "history": history,
                "best_score": best_score, "best_epoch": best_epoch, "best_state": best_state,
                "bad_epochs": bad_epochs, "done": done, "stopped_early": stopped_early,
                **({} if done else _resume_state(model, optimizer, scheduler, grad_scaler)),
            })
        report = EpochReport(epoch, config.lr, total_loss / len(train), score, best_epoch, best_score)
        for cb in callbacks:
            cb(report)
        if stopped_early:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainRun(history, best_epoch, best_score, best_state, stopped_early)


def _optimizers(
    model: FinetuneModel, train: Dataset, config: TrainConfig, use_amp: bool, amp_dtype: Any,
) -> tuple[torch.optim.Optimizer, Any, torch.amp.GradScaler]:
    """AdamW over the trainable parameters, linear warmup/decay schedule, AMP grad scaler."""
    from transformers import get_linear_schedule_with_warmup

    steps_per_epoch = len(_epoch_batches(train, config, 1))  # the same count every epoch
    total_steps = steps_per_epoch * config.epochs
    warmup = int(round(config.warmup_frac * total_steps))
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.lr, weight_decay=config.weight_decay,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total_steps)
    grad_scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    return optimizer, scheduler, grad_scaler


def _read_resumable(path: Path | None, fingerprint: str) -> dict | None:
    """The checkpoint at ``path`` when there is one from this config and data; a damaged one
    is retrained (None), a hostile one refused, one from another config a :class:`ConfigError`."""
    ck = (read_cached(path, _read_checkpoint, what="finetune checkpoint", keep=(UntrustedFileError,))
          if path is not None else None)  # damaged: retrained; hostile: refused, never run
    if ck is not None and ck.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"checkpoint {path} comes from a different configuration or data; "
            "delete it or use another output folder"
        )
    return ck


def _restore(ck: dict, model: FinetuneModel, optimizer: Any, scheduler: Any, grad_scaler: Any) -> None:
    """Put the model, optimizer, schedule, grad scaler and RNGs back as checkpointed."""
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    scheduler.load_state_dict(ck["scheduler"])
    grad_scaler.load_state_dict(ck["grad_scaler"])
    torch.set_rng_state(ck["torch_rng"])
    if ck.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ck["cuda_rng"])


def _resume_state(model: FinetuneModel, optimizer: Any, scheduler: Any, grad_scaler: Any) -> dict:
    """What an unfinished run's checkpoint needs to resume: weights, optimizer, RNGs."""
    return dict(
        model=_cpu_state(model), optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(), grad_scaler=grad_scaler.state_dict(),
        torch_rng=torch.get_rng_state(),
        cuda_rng=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    )


def _train_epoch(
    model: FinetuneModel, train: Dataset, y_train: torch.Tensor, config: TrainConfig, epoch: int,
    optimizer: Any, scheduler: Any, grad_scaler: Any, use_amp: bool, amp_dtype: Any,
    task_type: str,
) -> float:
    """One epoch of optimizer steps (grad-accumulated micro-batches); the summed loss."""
    device = model.device
    micro = max(1, config.batch_size // config.grad_accum)
    model.train()
    total_loss = 0.0
    for step_rows in _epoch_batches(train, config, epoch):
        optimizer.zero_grad(set_to_none=True)
        for m in range(0, len(step_rows), micro):
            rows = step_rows[m : m + micro]
            target = y_train[rows].to(device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                out = model([train.smiles[i] for i in rows])[:, 0]
            loss = _loss(out.float(), target, task_type)
            total_loss += float(loss.detach())
            grad_scaler.scale(loss / len(step_rows)).backward()
        if config.max_grad_norm is not None:
            grad_scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        grad_scaler.step(optimizer)
        grad_scaler.update()
        scheduler.step()
    return total_loss
