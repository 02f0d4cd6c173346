"""A fingerprint baseline for the probe report: Morgan (ECFP4) count fingerprints, probed with
the same probe on the same splits as the encoder's layers.

The fingerprint is a one-layer :class:`~molstrata.core.embeddings.LayerEmbeddings`, so the
probe machinery (:func:`~molstrata.probe._probe.fit_layers`, :func:`~molstrata.probe._probe.assemble`)
treats it like any layer; ``baseline.csv`` holds its scores per task and seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from molstrata.core.embeddings import LayerEmbeddings
from molstrata.probe._probe import LayerScores

#: ``--baseline`` choices
BASELINES = ("ecfp", "none")
#: the name the baseline's cells and table rows go under
ECFP_NAME = "ecfp4-counts"
ECFP_RADIUS = 2
ECFP_BITS = 2048
BASELINE_COLUMNS = ["baseline", "task", "metric", "seed", "valid_score", "test_score"]


def ecfp_identity() -> str:
    """What the fingerprint is computed from (part of its cells' keys)."""
    from rdkit import __version__ as rdkit_version

    return f"morgan counts radius={ECFP_RADIUS} bits={ECFP_BITS} rdkit={rdkit_version}"


def ecfp_counts(smiles: Sequence[str]) -> LayerEmbeddings:
    """Morgan count fingerprints (radius 2, i.e. ECFP4; 2048 bits) of ``smiles``.

    Returns
    -------
    LayerEmbeddings with one layer, float32 ``(n_molecules, 2048)``; a SMILES RDKit cannot
    parse has a NaN row and ``valid`` False.
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=ECFP_RADIUS, fpSize=ECFP_BITS)
    out = np.full((len(smiles), ECFP_BITS), np.nan, dtype=np.float32)
    valid = np.zeros(len(smiles), dtype=bool)
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is not None:
            out[i] = gen.GetCountFingerprintAsNumPy(mol)
            valid[i] = True
    return LayerEmbeddings(layers=(out,), valid=valid, smiles=tuple(smiles), encoder=ECFP_NAME,
                           pooling="none", meta={"identity": ecfp_identity()})


def baseline_frame(scores: Sequence[LayerScores]) -> pd.DataFrame:
    """``baseline.csv``: one row per (task, seed) of the baseline's one-layer probe."""
    rows = [(s.encoder, s.task, s.metric, int(s.seed), float(s.valid_scores[0]), float(s.test_scores[0]))
            for s in scores]
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)
