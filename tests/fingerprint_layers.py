"""Dense 'layers' of real molecules for numerical tests of the probes: Morgan count
fingerprints of radius 1 and 2, folded to a few columns (sparse, collinear, with duplicate
rows), so their Gram matrices are ill-conditioned as embeddings' are."""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator


def morgan_layers(smiles: list[str], width: int, dtype: type = np.float64) -> list[np.ndarray]:
    """Two layers (n, width) of ``dtype``: radius-1 and radius-2 count fingerprints."""
    out = []
    for radius in (1, 2):
        gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=width)
        out.append(np.stack([gen.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(s)).astype(dtype)
                             for s in smiles]))
    return out
