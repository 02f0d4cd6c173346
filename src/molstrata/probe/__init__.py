"""Frozen layer-wise probing: a probe per layer, the layer chosen without the test set.

Entry points
------------
- :func:`probe` ``(embeddings, split, *, model="linear") -> LayerScores``: one task, one seed.
- The sweep (encoders × tasks × seeds, resumable, writing a run folder: ``molstrata
  probe``) is a run above the stages: :func:`molstrata.runs.sweep`.
- :func:`select_layer` ``(valid_scores, metric) -> int``: validation scores only.
- ``--selection`` strategies (:mod:`molstrata.probe.selection`, one registry; issue 11, 18):
  ``valid``, and those that hold up better than one small validation split:
  :func:`select_cv` / :func:`select_cv_1se` on the fold scores of a scaffold-grouped CV
  inside ``train_val`` (:func:`cross_validate`, :func:`scaffold_folds`), and layer
  combinations (``concat``, ``ensemble``, :class:`MixProbe`); :func:`choose` runs them for
  one (task, seed) without test labels; :func:`register_strategy` adds one.

Probes are scikit-learn estimators (:class:`~molstrata.probe._base.ProbeEstimator`) and take
one array per layer: :class:`LinearProbe` (ridge / logistic, one eigendecomposition per layer
for the whole regularisation grid, batched across layers), :class:`MLPProbe`,
:class:`GBDTProbe`, and the tuned heads :class:`TunedMLPProbe`, :class:`TunedGBDTProbe`
(``mlp-tuned``, ``gbdt-tuned``: a small grid searched on valid; :mod:`molstrata.probe.estimators`).

The package is lazy: each name below is imported from its module on first access, so that
``import molstrata.probe.selection`` (the CLI's ``--selection`` help) loads no probe code.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "molstrata.probe._probe": ("PROBES", "LayerCell", "LayerScores"),
    "molstrata.probe.api": ("probe",),
    "molstrata.probe.combine": ("MixProbe",),
    "molstrata.probe.ensemble": ("LayerEnsemble",),
    "molstrata.probe.cv": ("CVResult", "cross_validate", "scaffold_folds", "scaffold_group_ids"),
    "molstrata.probe.gbdt": ("GBDTProbe",),
    "molstrata.probe.linear": ("DEFAULT_ALPHAS", "DEFAULT_CS", "LinearProbe"),
    "molstrata.probe.mlp": ("MLPProbe",),
    "molstrata.probe.outputs": ("write_tables",),
    "molstrata.probe._numerics": ("NUMERICS",),
    "molstrata.probe.selection": (
        "DEFAULT_SELECTION", "SELECTIONS", "STRATEGIES", "SelectionSpec", "delta_pct", "oracle_layer",
        "parse_selection", "register_strategy", "select_cv", "select_cv_1se", "select_layer",
    ),
    "molstrata.probe.strategies": ("Choice", "SelectionResult", "choose", "select_and_score"),
    "molstrata.probe.tuned": ("TunedGBDTProbe", "TunedMLPProbe"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
