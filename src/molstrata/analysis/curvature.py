"""Curvature of representation trajectories: along the tokens, and along the depth.

Both use the same discrete curvature (Hosseini & Fedorenko, 2023; Skean et al., 2025): for
a trajectory ``x_0, ..., x_{T-1}`` take the difference vectors ``v_k = x_{k+1} − x_k`` and
average the angle between consecutive ones,

    c = mean_k arccos( <v_k, v_{k+1}> / (‖v_k‖ ‖v_{k+1}‖) ),   in [0, π].

There is deliberately **no** ``abs()`` on the cosine: the reference implementation of Skean
et al. takes ``|cos|``, which folds a U-turn (π) onto a straight line (0) and deviates from
the paper's formula. A straight line has curvature 0, a right-angle zigzag π/2, a
back-and-forth walk π.

* **token curvature** (:func:`token_curvature`): the trajectory is one molecule's token (or
  atom) states at a fixed layer, in input order; averaged over molecules. This is the
  quantity of Skean et al.
* **depth curvature** (:func:`depth_curvature`): the trajectory is one molecule's pooled
  embedding through the layers ``h_0, h_1, ..., h_L``. At layer ``k`` (``0 < k < L``) it is
  the angle between ``h_k − h_{k−1}`` and ``h_{k+1} − h_k``, averaged over molecules: how
  sharply block ``k + 1`` turns the representation relative to block ``k``. The first and
  last layers have no value (NaN). Needs equal widths across layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from molstrata.analysis._utils import AnalysisInputError, as_array


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles between rows of ``a`` and ``b`` (both (m, d)); NaN where a row has zero norm."""
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    ok = (na > 0) & (nb > 0)
    cos = np.full(na.shape, np.nan)
    cos[ok] = (a[ok] * b[ok]).sum(-1) / (na[ok] * nb[ok])
    return np.arccos(np.clip(cos, -1.0, 1.0))


def trajectory_curvature(X: Any) -> float:
    """Mean angle (radians) between consecutive difference vectors of a trajectory.

    Parameters
    ----------
    X : array-like of shape (n_steps, hidden_dim), the points in order

    Returns
    -------
    float in [0, π]; NaN when fewer than 3 points or every step has zero length. Pairs
    that involve a zero-length step (a repeated point) are skipped.
    """
    X = as_array(X, "trajectory")
    if X.shape[0] < 3:
        return float("nan")
    v = np.diff(X, axis=0)
    ang = _angles(v[:-1], v[1:])
    return float(np.nanmean(ang)) if np.isfinite(ang).any() else float("nan")


def token_curvature(token_states: Sequence[Any]) -> float:
    """Token curvature of one layer, averaged over molecules.

    Parameters
    ----------
    token_states : sequence of n_molecules arrays, molecule i's (n_tokens_i, dim) states at
        one layer, tokens in input order (``Encoder.token_states(smiles)[k]``)

    Returns
    -------
    float in [0, π]: mean over molecules with a defined curvature (at least 3 tokens).
    """
    values = [trajectory_curvature(s) for s in token_states if np.shape(s)[0] >= 3]
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def depth_curvature(layers: Sequence[Any]) -> np.ndarray:
    """Curvature of the molecules' pooled trajectories through depth, per layer.

    Parameters
    ----------
    layers : sequence of n_layers arrays, each (n_molecules, hidden_dim) with equal
        ``hidden_dim`` (a ``LayerEmbeddings`` restricted to valid rows works)

    Returns
    -------
    ndarray of shape (n_layers,): entry ``k`` (``0 < k < n_layers − 1``) is the mean over
    molecules of the angle between ``h_k − h_{k−1}`` and ``h_{k+1} − h_k``; the first and
    last entries are NaN.
    """
    arrs = [as_array(z, f"layer {k}") for k, z in enumerate(layers)]
    dims = {a.shape for a in arrs}
    if len(dims) != 1:
        raise AnalysisInputError(
            f"depth curvature needs every layer to have the same shape, got {sorted(dims)}"
        )
    out = np.full(len(arrs), np.nan)
    for k in range(1, len(arrs) - 1):
        ang = _angles(arrs[k] - arrs[k - 1], arrs[k + 1] - arrs[k])
        if np.isfinite(ang).any():
            out[k] = float(np.nanmean(ang))
    return out
