"""Morgan (ECFP4) count fingerprints: the featurizer of the probe report's baseline
(``--baseline ecfp``), one layer shaped like an encoder's output so that the probe machinery
treats it like any layer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from molstrata.core.embeddings import LayerEmbeddings

__all__ = ["ECFP_BITS", "ECFP_NAME", "ECFP_RADIUS", "ecfp_counts", "ecfp_identity"]

#: the name the baseline's cells and table rows go under
ECFP_NAME = "ecfp4-counts"
ECFP_RADIUS = 2
ECFP_BITS = 2048


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
    return ecfp_embeddings(*ecfp_count_rows(smiles), smiles)


def ecfp_count_rows(smiles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The rows of :func:`ecfp_counts`: counts float32 ``(n_molecules, 2048)`` (NaN rows for
    SMILES RDKit cannot parse) and the valid mask ``(n_molecules,)``. Each row depends on its
    molecule only, so rows computed in slices (pool workers) stack to the same array."""
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
    return out, valid


def ecfp_embeddings(rows: np.ndarray, valid: np.ndarray, smiles: Sequence[str]) -> LayerEmbeddings:
    """:func:`ecfp_count_rows`' arrays (``rows`` (n, 2048), ``valid`` (n,)) for ``smiles`` as
    the one-layer :class:`LayerEmbeddings` of :func:`ecfp_counts`."""
    return LayerEmbeddings(layers=(rows,), valid=valid, smiles=tuple(smiles), encoder=ECFP_NAME,
                           pooling="none", meta={"identity": ecfp_identity()})
