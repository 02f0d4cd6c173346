"""The learning-rate sweep of one (task, depth, seed), with selection on validation only.

Every learning rate starts from the same weights (pretrained truncated encoder, identically
seeded head). The best (learning rate, epoch) is the validation optimum over **the whole
sweep**, never the last rate tried; the test split is predicted once, with that
checkpoint, after the sweep is over.
"""

from __future__ import annotations

import copy
import math
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from molstrata.core.errors import ConfigError
from molstrata.core.seed import seed_everything
from molstrata.data.smiles import parse_smiles
from molstrata.finetune.model import HeadConfig, build_model
from molstrata.finetune.targets import TargetScaler
from molstrata.finetune.train import (
    Dataset,
    EpochReport,
    TrainConfig,
    TrainRun,
    evaluate,
    fit,
    is_better,
    predict,
)

if TYPE_CHECKING:
    from molstrata.encoders.base import Encoder

#: the paper's learning-rate grid
DEFAULT_LRS: tuple[float, ...] = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4)


@dataclass(frozen=True)
class FinetuneResult:
    """One (task, depth, seed) finetune.

    Attributes
    ----------
    task, metric, task_type : str
    n_layers : int, the truncation depth (blocks kept)
    seed : int
    history : DataFrame with columns ``lr, epoch, train_loss, valid_score``: every epoch of
        every learning rate (early-stopped runs have fewer epochs)
    best_lr, best_epoch : the validation optimum over the whole sweep
    valid_score : the validation score of that checkpoint
    test_score : the test score of that checkpoint, computed once after selection
    test_pred : ndarray of float64, shape (n_test,), in test-file order (probabilities for
        classification)
    invalid : dict split -> list of row indices whose SMILES RDKit rejected
    """

    task: str
    metric: str
    task_type: str
    n_layers: int
    seed: int
    history: pd.DataFrame = field(repr=False)
    best_lr: float
    best_epoch: int
    valid_score: float
    test_score: float
    test_pred: np.ndarray = field(repr=False)
    invalid: dict[str, list[int]] = field(default_factory=dict)


def select_best(runs: dict[float, TrainRun], metric: str) -> tuple[float, int, float]:
    """The (lr, epoch, score) with the best validation score over every run's history.

    Ties go to the learning rate listed first. Raises :class:`ConfigError` when no epoch
    produced a finite score.
    """
    best: tuple[float, int, float] | None = None
    for lr, run in runs.items():
        for row in run.history:
            score = float(row["valid_score"])
            if not math.isfinite(score):
                continue
            if best is None or is_better(score, best[2], metric):
                best = (lr, int(row["epoch"]), score)
    if best is None:
        raise ConfigError(f"no learning rate gave a finite validation {metric}")
    return best


def frame_dataset(frame: pd.DataFrame, split: str, task: str) -> tuple[Dataset, np.ndarray]:
    """The parseable molecules of a split's ``frame`` (``Drug``, ``Y``) as a :class:`Dataset`
    (canonical SMILES, float64 targets), and the (n_rows,) bool mask of the rows kept."""
    for col in ("Drug", "Y"):
        if col not in frame.columns:
            raise ConfigError(f"{task} {split} split has no {col!r} column")
    parsed = parse_smiles(frame["Drug"].tolist(), on_invalid="mask", source=f"{task} {split}")
    y = frame["Y"].to_numpy(dtype=np.float64)
    keep = parsed.valid
    return Dataset(tuple(np.asarray(parsed.canonical, dtype=object)[keep]), y[keep]), parsed.valid


def _warn_too_long(encoder: Encoder, task: str, parts: dict[str, Dataset]) -> None:
    """Say how many molecules the encoder's tokenizer will cut at its ``max_length``."""
    limit = getattr(encoder, "max_length", None)
    if not limit:
        return
    counts = {name: sum(encoder._size(s) > limit for s in ds.smiles) for name, ds in parts.items()}
    if any(counts.values()):
        shown = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
        warnings.warn(f"{task}: {shown} molecules are longer than the max_length={limit} tokens "
                      f"of encoder {encoder.name!r} and are cut to it", stacklevel=3)


def checkpoint_name(lr: float) -> str:
    """The checkpoint file of one learning rate's run in a sweep's ``workdir``."""
    return f"lr{float(lr):g}.pt"


def _fresh_model(encoder: Encoder, n_layers: int, *, seed: int, pooling: str | None,
                 head: HeadConfig | None) -> Any:
    """The truncated encoder + seeded head every learning rate starts from (a copy: the
    caller's weights are never trained)."""
    seed_everything(seed)
    model = build_model(encoder, n_layers, pooling=pooling, head=head)
    model.encoder = copy.deepcopy(model.encoder)
    model.backbone = model.encoder.module
    return model


def train_trial(
    encoder: Encoder,
    split: Any,
    *,
    lr: float,
    workdir: str | Path,
    n_layers: int | None = None,
    seed: int = 1,
    config: TrainConfig | None = None,
    head: HeadConfig | None = None,
    pooling: str | None = None,
) -> TrainRun:
    """Train one learning rate of :func:`finetune`'s sweep, on its own, to its final
    checkpoint ``workdir / checkpoint_name(lr)``.

    The run is exactly the one :func:`finetune` does for ``lr`` (same initial weights,
    seeds and data), and it checkpoints every epoch, so a killed trial resumes. A later
    :func:`finetune` with the same arguments and ``workdir`` reads the finished checkpoint
    back instead of training: trials can run in parallel (e.g. as Ray tasks) and the sweep
    then only selects on validation and predicts the test split, once. Train and valid
    only; the test split is not read here.

    Returns
    -------
    TrainRun of this learning rate (``model`` weights at its best epoch in ``best_state``)
    """
    config = config or TrainConfig()
    n_layers = encoder.num_layers if n_layers is None else int(n_layers)
    task, metric, task_type = str(split.name), str(split.metric), str(split.task_type)
    train, _ = frame_dataset(split.train, "train", task)
    valid, _ = frame_dataset(split.valid, "valid", task)
    scaler = TargetScaler.fit(train.y, task_type)
    model = _fresh_model(encoder, n_layers, seed=seed, pooling=pooling, head=head)
    torch.manual_seed(seed)
    return fit(model, train, valid, task_type=task_type, metric=metric,
               config=replace(config, lr=float(lr), seed=seed), scaler=scaler,
               checkpoint=Path(workdir) / checkpoint_name(lr))


def finetune(
    encoder: Encoder,
    split: Any,
    *,
    n_layers: int | None = None,
    lrs: Sequence[float] = DEFAULT_LRS,
    seed: int = 1,
    config: TrainConfig | None = None,
    head: HeadConfig | None = None,
    pooling: str | None = None,
    workdir: str | Path | None = None,
    keep_checkpoints: bool = False,
    callbacks: Sequence[Callable[[EpochReport], None]] = (),
) -> FinetuneResult:
    """Finetune ``encoder`` truncated at ``n_layers`` on ``split``, sweeping ``lrs``.

    Parameters
    ----------
    encoder : a loaded Encoder (it is not modified: a truncated copy is trained)
    split : a :class:`~molstrata.data.TaskSplit` (``train``, ``valid``, ``test`` DataFrames
        with ``Drug``, ``Y``; ``metric``; ``task_type``; ``name``)
    n_layers : blocks to keep; default: all (full depth)
    lrs : the learning-rate grid, tried in this order
    seed : seeds the head's initialisation, dropout and the shuffles
    config : :class:`TrainConfig` (its ``lr`` and ``seed`` are replaced per run)
    head : :class:`HeadConfig` (default: the paper's head)
    pooling : pooling of the last kept layer; default: the encoder's
    workdir : where per-learning-rate checkpoints go; a rerun resumes from them
    keep_checkpoints : keep them after the sweep (default: deleted once the result exists)
    callbacks : passed to :func:`~molstrata.finetune.train.fit`

    Returns
    -------
    FinetuneResult. Test scores are computed exactly once, with the selected checkpoint.
    Invalid SMILES are never dropped silently: they are left out of train/valid with a
    warning, and invalid test rows get the training mean (regression) or prevalence
    (classification) as prediction, also with a warning; ``invalid`` lists them all.
    """
    config = config or TrainConfig()
    lrs = _check_lrs(lrs)
    n_layers = encoder.num_layers if n_layers is None else int(n_layers)
    task, metric, task_type = str(split.name), str(split.metric), str(split.task_type)
    if task_type not in ("regression", "classification"):
        raise ConfigError(f"task {task!r} has task_type {task_type!r}; expected regression or classification")

    train, valid, test, test_ok, invalid = _datasets(split, task)
    scaler = TargetScaler.fit(train.y, task_type)
    _warn_too_long(encoder, task, {"train": train, "valid": valid, "test": test})

    model = _fresh_model(encoder, n_layers, seed=seed, pooling=pooling, head=head)
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    work = Path(workdir) if workdir is not None else None
    runs = _lr_sweep(model, init_state, lrs, seed, work, train, valid, task_type=task_type,
                     metric=metric, config=config, scaler=scaler, callbacks=callbacks)

    best_lr, best_epoch, best_valid = select_best(runs, metric)
    state = runs[best_lr].best_state
    assert state is not None and runs[best_lr].best_epoch == best_epoch
    model.load_state_dict(state)
    # test: read once, after the choice is final
    test_pred = _test_predictions(model, test, test_ok, train, scaler, task_type, config,
                                  invalid["test"], task)
    y_test = split.test["Y"].to_numpy(dtype=np.float64)
    test_score = evaluate(metric, y_test, test_pred)

    history = pd.DataFrame(
        [{"lr": lr, **row} for lr, run in runs.items() for row in run.history],
        columns=["lr", "epoch", "train_loss", "valid_score"],
    )
    if work is not None and not keep_checkpoints:
        _remove_checkpoints(work, lrs)
    return FinetuneResult(
        task=task, metric=metric, task_type=task_type, n_layers=n_layers, seed=int(seed),
        history=history, best_lr=best_lr, best_epoch=best_epoch, valid_score=best_valid,
        test_score=test_score, test_pred=test_pred, invalid=invalid,
    )


def _check_lrs(lrs: Sequence[float]) -> list[float]:
    """The learning-rate grid as floats; refuse an empty one or duplicates."""
    lrs = [float(x) for x in lrs]
    if not lrs:
        raise ConfigError("the learning-rate grid is empty")
    if len(set(lrs)) != len(lrs):
        raise ConfigError(f"the learning-rate grid has duplicates: {lrs}")
    return lrs


def _datasets(split: Any, task: str) -> tuple[Dataset, Dataset, Dataset, np.ndarray, dict[str, list[int]]]:
    """The valid molecules of each part: ``(train, valid, test, test_ok (n_test,), invalid)``,
    with a warning for the invalid train/valid rows left out."""
    train, train_ok = frame_dataset(split.train, "train", task)
    valid, valid_ok = frame_dataset(split.valid, "valid", task)
    test, test_ok = frame_dataset(split.test, "test", task)
    invalid = {name: np.flatnonzero(~ok).tolist()
               for name, ok in (("train", train_ok), ("valid", valid_ok), ("test", test_ok))}
    for name, rows in invalid.items():
        if rows and name != "test":
            warnings.warn(f"{task} {name}: {len(rows)} invalid SMILES left out (rows {rows[:10]})",
                          stacklevel=3)
    return train, valid, test, test_ok, invalid


def _lr_sweep(
    model: Any, init_state: dict[str, torch.Tensor], lrs: list[float], seed: int,
    work: Path | None, train: Dataset, valid: Dataset, *, task_type: str, metric: str,
    config: TrainConfig, scaler: TargetScaler, callbacks: Sequence[Callable[[EpochReport], None]],
) -> dict[float, TrainRun]:
    """One training run per learning rate, each from ``init_state`` and ``seed``."""
    runs: dict[float, TrainRun] = {}
    for lr in lrs:
        model.load_state_dict(init_state)
        torch.manual_seed(seed)
        ckpt = work / checkpoint_name(lr) if work is not None else None
        runs[lr] = fit(
            model, train, valid, task_type=task_type, metric=metric,
            config=replace(config, lr=lr, seed=seed), scaler=scaler,
            checkpoint=ckpt, callbacks=callbacks,
        )
    return runs


def _test_predictions(
    model: Any, test: Dataset, test_ok: np.ndarray, train: Dataset, scaler: TargetScaler,
    task_type: str, config: TrainConfig, invalid_test: list[int], task: str,
) -> np.ndarray:
    """Predictions (n_test,) in target units; invalid rows get the training mean/prevalence."""
    pred_ok = predict(model, test.smiles, scaler=scaler, task_type=task_type,
                      batch_size=config.eval_batch_size)
    test_pred = np.full(len(test_ok), float(train.y.mean()), dtype=np.float64)
    test_pred[test_ok] = pred_ok
    if invalid_test:
        warnings.warn(
            f"{task} test: {len(invalid_test)} invalid SMILES predicted as the training "
            f"{'mean' if task_type == 'regression' else 'prevalence'} (rows {invalid_test[:10]})",
            stacklevel=3,
        )
    return test_pred


def _remove_checkpoints(work: Path, lrs: list[float]) -> None:
    """Delete the per-learning-rate checkpoints, and ``work`` when that leaves it empty."""
    for lr in lrs:
        (work / checkpoint_name(lr)).unlink(missing_ok=True)
    if work.exists() and not any(work.iterdir()):
        shutil.rmtree(work, ignore_errors=True)
