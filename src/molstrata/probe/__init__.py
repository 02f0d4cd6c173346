"""Frozen layer-wise probing: a probe per layer, the layer chosen on validation only.

Entry points
------------
- :func:`probe` ``(embeddings, split, *, model="linear") -> LayerScores``: one task, one seed.
- :func:`sweep`: encoders × tasks × seeds, resumable, writing a run folder (the
  ``molstrata probe`` command).
- :func:`select_layer` ``(valid_scores, metric) -> int``: validation scores only.

Probes follow scikit-learn's estimator contract and take one array per layer:
:class:`LinearProbe` (ridge / logistic, one eigendecomposition per layer for the whole
regularisation grid, batched across layers), :class:`MLPProbe`, :class:`GBDTProbe`.
"""

import sys as _sys
import types as _types

from molstrata.probe._probe import PROBES, LayerCell, LayerScores, probe
from molstrata.probe.gbdt import GBDTProbe
from molstrata.probe.linear import DEFAULT_ALPHAS, DEFAULT_CS, LinearProbe
from molstrata.probe.mlp import MLPProbe
from molstrata.probe.outputs import write_tables
from molstrata.probe.runner import ProbeRun, sweep
from molstrata.probe.selection import (
    STRATEGIES,
    delta_pct,
    oracle_layer,
    register_strategy,
    select_layer,
)

__all__ = [
    "DEFAULT_ALPHAS",
    "DEFAULT_CS",
    "PROBES",
    "STRATEGIES",
    "GBDTProbe",
    "LayerCell",
    "LayerScores",
    "LinearProbe",
    "MLPProbe",
    "ProbeRun",
    "delta_pct",
    "oracle_layer",
    "probe",
    "register_strategy",
    "select_layer",
    "sweep",
    "write_tables",
]


class _CallableModule(_types.ModuleType):
    """``molstrata.probe`` is both this package and the :func:`probe` function: once the
    package is imported, Python binds the name ``molstrata.probe`` to the module, so the
    module forwards calls to :func:`probe` (``molstrata.probe(embeddings, split)`` works)."""

    def __call__(self, *args, **kwargs):
        return probe(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
