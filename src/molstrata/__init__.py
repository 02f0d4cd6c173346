"""molstrata: take pretrained molecular encoders apart layer by layer, and measure honestly
which layer to use.

The top level is lazy (as in scikit-learn): ``import molstrata`` imports no torch, no RDKit
and no model code; each public name is imported on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    # data
    "list_tasks": "molstrata.data",
    "load_task": "molstrata.data",
    "load_csv_task": "molstrata.data",
    "evaluate": "molstrata.data",
    "TaskSplit": "molstrata.data",
    # core
    "LayerEmbeddings": "molstrata.core",
    # encoders
    "load_encoder": "molstrata.encoders",
    "Encoder": "molstrata.encoders",
    # later stages
    "select_layer": "molstrata.probe",
    "analyze": "molstrata.analysis",
    "recommend_layer": "molstrata.analysis",
    # runs (the commands' run folders)
    "sweep": "molstrata.runs",
    "run_finetune": "molstrata.runs",
    # saved predictors and scikit-learn building blocks
    "load_predictor": "molstrata.runs.predict",
    "LayerFeaturizer": "molstrata.embeddings.featurizer",
    "LayerEnsemble": "molstrata.probe.ensemble",
}

# Stage sub-packages, importable as attributes (``molstrata.finetune.finetune(...)``).
# ``molstrata.probe`` is the probe package; its function is ``molstrata.probe.probe(...)``.
_SUBPACKAGES = {"core", "data", "encoders", "embeddings", "analysis", "probe", "finetune",
                "report", "pretrain", "scale", "runs"}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"molstrata.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'molstrata' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
