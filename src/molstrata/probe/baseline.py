"""A fingerprint baseline for the probe report: Morgan (ECFP4) count fingerprints
(:mod:`molstrata.encoders.fingerprint`), probed with the same probe on the same splits as the
encoder's layers.

The fingerprint is a one-layer :class:`~molstrata.core.embeddings.LayerEmbeddings`, so the
probe machinery (:func:`~molstrata.probe._probe.fit_layers`, :func:`~molstrata.probe._probe.assemble`)
treats it like any layer; ``baseline.csv`` holds its scores per task and seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from molstrata.encoders.fingerprint import (  # the featurizer lives with the encoders
    ECFP_BITS,
    ECFP_NAME,
    ECFP_RADIUS,
    ecfp_counts,
    ecfp_identity,
)
from molstrata.probe._probe import LayerScores

__all__ = ["BASELINES", "BASELINE_COLUMNS", "ECFP_BITS", "ECFP_NAME", "ECFP_RADIUS", "baseline_frame",
           "ecfp_counts", "ecfp_identity"]

#: ``--baseline`` choices
BASELINES = ("ecfp", "none")
BASELINE_COLUMNS = ["baseline", "task", "metric", "seed", "valid_score", "test_score"]


def baseline_frame(scores: Sequence[LayerScores]) -> pd.DataFrame:
    """``baseline.csv``: one row per (task, seed) of the baseline's one-layer probe."""
    rows = [(s.encoder, s.task, s.metric, int(s.seed), float(s.valid_scores[0]), float(s.test_scores[0]))
            for s in scores]
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)
