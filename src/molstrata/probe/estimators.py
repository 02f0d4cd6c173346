"""The probe estimators by name: the registry behind ``--probe`` and :func:`make_probe`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from molstrata.core.errors import check_choice
from molstrata.probe.gbdt import GBDTProbe
from molstrata.probe.linear import LinearProbe
from molstrata.probe.mlp import MLPProbe
from molstrata.probe.tuned import TUNED_CLASSES

if TYPE_CHECKING:
    from molstrata.probe._base import ProbeEstimator

#: every probe of ``molstrata probe --probe``: name -> estimator class (the tuned heads
#: ``mlp-tuned`` and ``gbdt-tuned`` of :mod:`molstrata.probe.tuned` last)
PROBE_CLASSES: dict[str, type] = {"linear": LinearProbe, "mlp": MLPProbe, "gbdt": GBDTProbe, **TUNED_CLASSES}
#: their names, in the order the CLI lists them
PROBES = tuple(PROBE_CLASSES)


def make_probe(model: str, task_type: str, metric: str | None, seed: int,
               **params: Any) -> ProbeEstimator:
    """A fresh probe estimator by name (``linear``, ``mlp``, ``gbdt``, ``mlp-tuned``,
    ``gbdt-tuned``); ``seed`` seeds all but the linear probe (deterministic without one)."""
    check_choice("probe", model, PROBES)
    if model == "linear":
        return LinearProbe(task_type=task_type, metric=metric, **params)
    return PROBE_CLASSES[model](task_type=task_type, metric=metric, seed=seed, **params)
