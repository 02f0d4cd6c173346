"""Training rows for the linear probes: layers stacked into float64, and the sparse (CSR)
form of count-fingerprint rows (:mod:`molstrata.probe.linear`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def stack64(arrays: Sequence[np.ndarray], rows: np.ndarray | None = None) -> np.ndarray:
    """The L arrays (n, d) (or their ``rows``) stacked into one float64 array (L, n, d),
    converted while copied (one pass; ``np.stack`` then ``astype`` takes two)."""
    n = arrays[0].shape[0] if rows is None else len(rows)
    out = np.empty((len(arrays), n, arrays[0].shape[1]), dtype=np.float64)
    for j, x in enumerate(arrays):
        out[j] = x if rows is None else x[rows]
    return out


#: training rows with at most this share of nonzeros (count fingerprints: ~2 %) are
#: multiplied as sparse (CSR) matrices; dense embeddings never are
SPARSE_DENSITY = 0.1


def _sparse_transposes(X: Any) -> list[Any] | None:
    """``X^T`` of each layer of X (L, n, d) as a SciPy CSR matrix (d, n) when X is sparse
    enough (:data:`SPARSE_DENSITY`) and wide (d >= 512), else None."""
    import torch

    if X.shape[2] < 512 or X.numel() == 0:
        return None
    if int(torch.count_nonzero(X)) > SPARSE_DENSITY * X.numel():
        return None
    from scipy import sparse

    return [sparse.csr_matrix(x.numpy().T) for x in X]


def _stack_products(mats: Sequence[Any], B: Any) -> Any:
    """``mats[l] @ B[l]`` for L SciPy sparse matrices and B (L, p, k) (torch): (L, q, k)."""
    import torch

    return torch.from_numpy(np.stack([m @ b.numpy() for m, b in zip(mats, B, strict=True)]))
