"""Frozen layer-wise probing: a probe per layer, the layer chosen on validation only.

Entry points
------------
- :func:`probe` ``(embeddings, split, *, model="linear") -> LayerScores``: one task, one seed.
- The sweep (encoders × tasks × seeds, resumable, writing a run folder: ``molstrata
  probe``) is a run above the stages: :func:`molstrata.runs.sweep`.
- :func:`select_layer` ``(valid_scores, metric) -> int``: validation scores only.
- ``--selection`` strategies that hold up better than one small validation split
  (:data:`SELECTIONS`; issue 11): :func:`select_cv` / :func:`select_cv_1se` on the fold scores
  of a scaffold-grouped CV inside ``train_val`` (:func:`cross_validate`,
  :func:`scaffold_folds`), and layer combinations (``concat``, ``ensemble``,
  :class:`MixProbe`); :func:`choose` runs them for one (task, seed) without test labels.

Probes follow scikit-learn's estimator contract and take one array per layer:
:class:`LinearProbe` (ridge / logistic, one eigendecomposition per layer for the whole
regularisation grid, batched across layers), :class:`MLPProbe`, :class:`GBDTProbe`.
"""

import sys as _sys
import types as _types

from molstrata.probe._probe import PROBES, LayerCell, LayerScores, probe
from molstrata.probe.combine import MixProbe
from molstrata.probe.cv import CVResult, cross_validate, scaffold_folds, scaffold_group_ids
from molstrata.probe.gbdt import GBDTProbe
from molstrata.probe.linear import DEFAULT_ALPHAS, DEFAULT_CS, LinearProbe
from molstrata.probe.mlp import MLPProbe
from molstrata.probe.outputs import write_tables
from molstrata.probe.selection import (
    DEFAULT_SELECTION,
    SELECTIONS,
    STRATEGIES,
    delta_pct,
    oracle_layer,
    parse_selection,
    register_strategy,
    select_cv,
    select_cv_1se,
    select_layer,
)
from molstrata.probe.strategies import Choice, SelectionResult, choose, select_and_score

__all__ = [
    "DEFAULT_ALPHAS",
    "DEFAULT_CS",
    "DEFAULT_SELECTION",
    "PROBES",
    "SELECTIONS",
    "STRATEGIES",
    "CVResult",
    "Choice",
    "GBDTProbe",
    "LayerCell",
    "LayerScores",
    "LinearProbe",
    "MLPProbe",
    "MixProbe",
    "SelectionResult",
    "choose",
    "cross_validate",
    "delta_pct",
    "oracle_layer",
    "parse_selection",
    "probe",
    "register_strategy",
    "scaffold_folds",
    "scaffold_group_ids",
    "select_and_score",
    "select_cv",
    "select_cv_1se",
    "select_layer",
    "write_tables",
]


class _CallableModule(_types.ModuleType):
    """``molstrata.probe`` is both this package and the :func:`probe` function: once the
    package is imported, Python binds the name ``molstrata.probe`` to the module, so the
    module forwards calls to :func:`probe` (``molstrata.probe(embeddings, split)`` works)."""

    def __call__(self, *args, **kwargs):
        return probe(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
