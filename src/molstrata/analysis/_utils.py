"""Input checks shared by the analysis metrics (numpy or torch in, float64 numpy out)."""

from __future__ import annotations

from typing import Any

import numpy as np

from molstrata.core.errors import MolstrataError


class AnalysisInputError(MolstrataError, ValueError):
    """An array given to an analysis metric has the wrong shape or holds NaN/inf."""


def as_array(Z: Any, name: str = "Z", ndim: int = 2, min_rows: int = 1) -> np.ndarray:
    """``Z`` (numpy array, torch tensor or nested list) as a C-contiguous float64 array.

    Raises :class:`AnalysisInputError` naming ``name`` when the number of dimensions is not
    ``ndim``, when there are fewer than ``min_rows`` rows, or when values are not finite.
    """
    if hasattr(Z, "detach"):  # torch tensor, without importing torch
        Z = Z.detach().cpu().numpy()
    arr = np.asarray(Z, dtype=np.float64)
    if arr.ndim != ndim:
        raise AnalysisInputError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise AnalysisInputError(f"{name} needs at least {min_rows} rows, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise AnalysisInputError(
            f"{name} holds NaN or inf (first at index {tuple(int(i) for i in bad)}); "
            "drop invalid molecules first (LayerEmbeddings.valid)"
        )
    return np.ascontiguousarray(arr)
