"""Finetuning truncated encoders: cut at depth k, a head on top, an honest LR sweep.

Entry points: :func:`finetune` (one task, depth and seed, sweeping learning rates with
selection on validation only) and :func:`run_finetune` (tasks × depths × seeds, with the
output tables, figures and report).
"""

from molstrata.finetune.model import FinetuneModel, HeadConfig, build_model, make_head, truncate
from molstrata.finetune.run import run_finetune, run_finetune_tasks
from molstrata.finetune.sweep import DEFAULT_LRS, FinetuneResult, finetune, select_best
from molstrata.finetune.targets import TargetScaler
from molstrata.finetune.train import Dataset, EpochReport, TrainConfig, TrainRun, fit, predict

__all__ = [
    "DEFAULT_LRS",
    "Dataset",
    "EpochReport",
    "FinetuneModel",
    "FinetuneResult",
    "HeadConfig",
    "TargetScaler",
    "TrainConfig",
    "TrainRun",
    "build_model",
    "finetune",
    "fit",
    "make_head",
    "predict",
    "run_finetune",
    "run_finetune_tasks",
    "select_best",
    "truncate",
]
