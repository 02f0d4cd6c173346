"""The probe estimators by name: the registry behind ``--probe`` and :func:`make_probe`."""

from __future__ import annotations

from typing import Any

from molstrata.core.errors import check_choice
from molstrata.probe.gbdt import GBDTProbe
from molstrata.probe.linear import LinearProbe
from molstrata.probe.mlp import MLPProbe

#: every probe of ``molstrata probe --probe``: name -> estimator class
PROBE_CLASSES: dict[str, type] = {"linear": LinearProbe, "mlp": MLPProbe, "gbdt": GBDTProbe}
#: their names, in the order the CLI lists them
PROBES = tuple(PROBE_CLASSES)


def make_probe(model: str, task_type: str, metric: str | None, seed: int, **params: Any):
    """A fresh probe estimator by name (``linear``, ``mlp``, ``gbdt``); ``seed`` seeds the
    MLP and GBDT probes (the linear probe is deterministic without one)."""
    check_choice("probe", model, PROBES)
    if model == "linear":
        return LinearProbe(task_type=task_type, metric=metric, **params)
    return PROBE_CLASSES[model](task_type=task_type, metric=metric, seed=seed, **params)
