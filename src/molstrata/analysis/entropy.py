"""Matrix-based (Rényi) entropy of representations, dataset and token level.

The matrix entropy of a representation ``Z`` (n rows, d columns) follows Skean et al.
(ICML 2025) and Giraldo et al. (2014): centre the columns, L2-normalise the rows, form the
Gram matrix ``K = Z Zᵀ`` and take the spectrum ``λ = eig(K) / tr(K)``, which sums to one.
Then ``S_α = log(Σ λ_i^α) / (1 − α)`` and, at ``α = 1``, ``S_1 = −Σ λ_i log λ_i`` (natural
log). ``ZZᵀ`` (n × n) and ``ZᵀZ`` (d × d) share their non-zero eigenvalues, so the smaller
one is decomposed.

* **dataset entropy**: the matrix entropy of the pooled embeddings of a molecule set, per
  layer. High values: the molecules are spread over many directions.
* **token entropy** ("prompt entropy" in Skean et al.): for each molecule, the matrix
  entropy of its token (or atom) states, averaged over molecules, per layer. Low values:
  the encoder compresses a molecule's tokens onto few directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from molstrata.analysis._utils import AnalysisInputError, as_array

#: spectrum entries below this fraction of the total are treated as exact zeros
_EIG_TOL = 1e-12


def normalize_rows(Z: Any) -> np.ndarray:
    """Centre the columns of ``Z`` and scale each row to unit L2 norm.

    Parameters
    ----------
    Z : array-like of shape (n_samples, hidden_dim)

    Returns
    -------
    ndarray of shape (n_samples, hidden_dim), float64. A row that is all zeros after
    centring (for example the only row, or a duplicate of the mean) stays zero.
    """
    Z = as_array(Z)
    Z = Z - Z.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.where(norms > 0, norms, 1.0)


def gram_spectrum(Z: Any, *, preprocess: bool = True) -> np.ndarray:
    """Normalised eigenvalues ``λ = eig(K) / tr(K)`` of the Gram matrix of ``Z``.

    Decomposes the smaller of ``Z Zᵀ`` (n × n) and ``Zᵀ Z`` (d × d); both have the same
    non-zero eigenvalues.

    Parameters
    ----------
    Z : array-like of shape (n_samples, hidden_dim)
    preprocess : centre columns and L2-normalise rows first (:func:`normalize_rows`)

    Returns
    -------
    ndarray of shape (min(n_samples, hidden_dim),), non-negative, summing to 1, sorted in
    decreasing order; all zeros when ``Z`` has no variance.
    """
    Z = normalize_rows(Z) if preprocess else as_array(Z)
    n, d = Z.shape
    K = Z @ Z.T if n <= d else Z.T @ Z
    lam = np.clip(np.linalg.eigvalsh(K)[::-1], 0.0, None)
    total = lam.sum()
    if total <= 0:
        return np.zeros_like(lam)
    lam = lam / total
    lam[lam < _EIG_TOL] = 0.0
    return lam / lam.sum()


def spectrum_entropy(lam: Any, alpha: float = 1.0) -> float:
    """Rényi entropy of order ``alpha`` of a spectrum that sums to one (natural log).

    Parameters
    ----------
    lam : array-like of shape (k,), non-negative, summing to 1 (zeros allowed)
    alpha : order, > 0; ``alpha = 1`` is the von Neumann/Shannon limit ``−Σ λ log λ``

    Returns
    -------
    float; 0.0 for an all-zero spectrum (no variance: no information).
    """
    if not alpha > 0:
        raise AnalysisInputError(f"alpha must be > 0, got {alpha}")
    lam = np.asarray(lam, dtype=np.float64)
    lam = lam[lam > 0]
    if lam.size == 0:
        return 0.0
    lam = lam / lam.sum()
    if np.isclose(alpha, 1.0):
        return float(-(lam * np.log(lam)).sum())
    return float(np.log((lam**alpha).sum()) / (1.0 - alpha))


def matrix_entropy(Z: Any, alpha: float = 1.0, normalized: bool = False) -> float:
    """Matrix-based Rényi entropy of a representation.

    Parameters
    ----------
    Z : array-like (numpy or torch) of shape (n_samples, hidden_dim)
    alpha : Rényi order, > 0; 1 (default) gives ``−Σ λ log λ``
    normalized : divide by ``log(min(n_samples, hidden_dim))``, the entropy of a flat
        spectrum, so values lie in [0, 1]. (After centring the rank is at most
        ``n_samples − 1``, so tiny sets cannot quite reach 1.)

    Returns
    -------
    float, in nats (or in [0, 1] when ``normalized``); NaN when ``normalized`` and
    ``min(n_samples, hidden_dim) == 1``.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.random.default_rng(0).normal(size=(500, 8))
    >>> round(matrix_entropy(Z, normalized=True), 2)
    1.0
    """
    Z = as_array(Z)
    h = spectrum_entropy(gram_spectrum(Z), alpha)
    if normalized:
        m = min(Z.shape)
        return float(h / np.log(m)) if m > 1 else float("nan")
    return h


def effective_rank(Z: Any) -> float:
    """Effective rank (Roy & Vetterli, 2007): ``exp(S_1)`` of the matrix entropy.

    Parameters
    ----------
    Z : array-like of shape (n_samples, hidden_dim)

    Returns
    -------
    float in [1, min(n_samples, hidden_dim)]; about ``r`` for data spread evenly over
    ``r`` directions.
    """
    return float(np.exp(matrix_entropy(Z, alpha=1.0)))


def dataset_entropy(
    layers: Sequence[Any], alpha: float = 1.0, normalized: bool = True
) -> np.ndarray:
    """Matrix entropy of the pooled embeddings at every layer.

    Parameters
    ----------
    layers : sequence of n_layers arrays, each (n_molecules, dim_k) (a ``LayerEmbeddings``
        restricted to valid rows works)
    alpha, normalized : as in :func:`matrix_entropy`

    Returns
    -------
    ndarray of shape (n_layers,)
    """
    return np.array(
        [matrix_entropy(as_array(z, f"layer {k}"), alpha, normalized) for k, z in enumerate(layers)]
    )


def token_entropy(
    token_states: Sequence[Any], alpha: float = 1.0, normalized: bool = True
) -> float:
    """Token ("prompt") entropy of one layer: per-molecule matrix entropy, averaged.

    Parameters
    ----------
    token_states : sequence of n_molecules arrays, molecule i's (n_tokens_i, dim) states at
        one layer (``Encoder.token_states(smiles)[k]``)
    alpha, normalized : as in :func:`matrix_entropy`

    Returns
    -------
    float, the mean over molecules with at least 2 tokens; NaN when none has.
    """
    values = [
        matrix_entropy(as_array(s, f"molecule {i} token states"), alpha, normalized)
        for i, s in enumerate(token_states)
        if np.shape(s)[0] >= 2
    ]
    return float(np.mean(values)) if values else float("nan")
