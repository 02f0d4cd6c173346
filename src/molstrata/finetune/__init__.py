"""Finetuning truncated encoders: cut at depth k, a head on top, an honest LR sweep.

Entry point: :func:`finetune` (one task, depth and seed, sweeping learning rates with
selection on validation only). The finetune run (tasks × depths × seeds with the frozen-probe
comparison, tables, figures and report: ``molstrata finetune``) is a run above the stages:
:func:`molstrata.runs.run_finetune`.
"""

from molstrata.finetune.model import FinetuneModel, HeadConfig, build_model, make_head, truncate
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
    "select_best",
    "truncate",
]
