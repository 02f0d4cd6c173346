"""Augmentation-invariance metrics: InfoNCE, LiDAR and DiME.

All three compare embeddings of several *views* (augmentations, such as randomised SMILES)
of the same molecules. Shapes use ``n_molecules`` (N), ``n_views`` (K) and ``hidden_dim``
(d).

* :func:`infonce` — two views ``Z1``, ``Z2`` (N, d). Rows are centred (joint mean) and
  L2-normalised, logits are cosine similarities over ``temperature`` (0.1), and the loss is
  the cross-entropy of matching row ``i`` of one view to row ``i`` of the other, averaged
  over both directions. ``log N − loss`` is a lower bound on the mutual information between
  the views (van den Oord et al., 2018); higher means the layer keeps a molecule recognisable
  across its SMILES spellings.
* :func:`lidar` — K views per molecule (N, K, d), each molecule a class (Thilak et al.,
  2023). With class means ``μ_i``, grand mean ``μ``, between-class scatter
  ``Σ_b = 1/N Σ_i (μ_i − μ)(μ_i − μ)ᵀ`` and within-class scatter
  ``Σ_w = 1/(NK) Σ_ij (z_ij − μ_i)(z_ij − μ_i)ᵀ + δ I`` (``δ = 1e-4``), LiDAR is the
  matrix entropy (natural log) of the normalised spectrum of ``Σ_w^{-1/2} Σ_b Σ_w^{-1/2}``,
  as in Skean et al. It counts the discriminative directions measured in units of
  augmentation noise. It is scale-free, so it is an *entropy of the LDA spectrum*, not a
  score of how small the noise is: with identical views (``Σ_w = δI``) it reduces to the
  spectral entropy of ``Σ_b``.
* :func:`dime` — two views (Skean et al., 2023, "DiME: Maximizing mutual information by a
  difference of matrix-based entropies"). With ``K1``, ``K2`` the (N, N) Gram matrices of
  the centred, row-normalised views and the joint entropy
  ``H(K1, K2) = S_α(K1 ∘ K2 / tr(K1 ∘ K2))`` (``∘``: Hadamard product),
  ``DiME = E_P[H(K1, P K2 Pᵀ)] − H(K1, K2)`` over random permutations ``P``. Shuffling
  the pairing breaks the dependence between the views and raises the joint entropy; DiME
  is how much. ≈0 for unrelated views, larger for views that share information.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from molstrata.analysis._utils import AnalysisInputError, as_array
from molstrata.analysis.entropy import normalize_rows, spectrum_entropy


def _two_views(Z1: Any, Z2: Any) -> tuple[np.ndarray, np.ndarray]:
    Z1, Z2 = as_array(Z1, "Z1", min_rows=2), as_array(Z2, "Z2", min_rows=2)
    if Z1.shape != Z2.shape:
        raise AnalysisInputError(f"the two views must have the same shape, got {Z1.shape} and {Z2.shape}")
    return Z1, Z2


def infonce_loss(Z1: Any, Z2: Any, temperature: float = 0.1) -> float:
    """Symmetric InfoNCE loss between two views (nats).

    Parameters
    ----------
    Z1, Z2 : array-like of shape (n_molecules, hidden_dim); row i of both is molecule i
    temperature : softmax temperature τ applied to cosine similarities

    Returns
    -------
    float: mean cross-entropy of the true pairing, averaged over Z1→Z2 and Z2→Z1.
    """
    from scipy.special import logsumexp

    Z1, Z2 = _two_views(Z1, Z2)
    if not temperature > 0:
        raise AnalysisInputError(f"temperature must be > 0, got {temperature}")
    mean = np.concatenate([Z1, Z2]).mean(axis=0, keepdims=True)
    A = Z1 - mean
    B = Z2 - mean
    A = A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-12)
    B = B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-12)
    logits = (A @ B.T) / temperature
    diag = np.diag(logits)
    loss_ab = np.mean(logsumexp(logits, axis=1) - diag)
    loss_ba = np.mean(logsumexp(logits, axis=0) - diag)
    return float(0.5 * (loss_ab + loss_ba))


def infonce(Z1: Any, Z2: Any, temperature: float = 0.1) -> float:
    """InfoNCE lower bound on the mutual information between two views: ``log N − loss``.

    Parameters
    ----------
    Z1, Z2 : array-like of shape (n_molecules, hidden_dim)
    temperature : τ (default 0.1)

    Returns
    -------
    float in nats, at most ``log(n_molecules)``; near or below 0 when the views are unrelated.
    """
    n = as_array(Z1, "Z1").shape[0]
    return float(np.log(n) - infonce_loss(Z1, Z2, temperature))


def lda_spectrum(views: Any, delta: float = 1e-4) -> np.ndarray:
    """Eigenvalues of ``Σ_w^{-1/2} Σ_b Σ_w^{-1/2}`` (see the module docstring).

    Parameters
    ----------
    views : array-like of shape (n_molecules, n_views, hidden_dim)
    delta : ridge ``δ`` added to the within-class scatter

    Returns
    -------
    ndarray of shape (hidden_dim,), non-negative, decreasing.
    """
    V = as_array(views, "views", ndim=3, min_rows=2)
    n, k, d = V.shape
    if k < 2:
        raise AnalysisInputError(f"LiDAR needs at least 2 views per molecule, got {k}")
    class_means = V.mean(axis=1)  # N, d
    grand = class_means.mean(axis=0)
    B = class_means - grand
    sigma_b = B.T @ B / n
    W = (V - class_means[:, None, :]).reshape(n * k, d)
    sigma_w = W.T @ W / (n * k) + delta * np.eye(d)
    w, U = np.linalg.eigh(sigma_w)
    inv_sqrt = (U / np.sqrt(w)) @ U.T
    lam = np.linalg.eigvalsh(inv_sqrt @ sigma_b @ inv_sqrt)[::-1]
    return np.clip(lam, 0.0, None)


def lidar(views: Any, delta: float = 1e-4, alpha: float = 1.0) -> float:
    """LiDAR: matrix entropy of the LDA spectrum of augmented views.

    Parameters
    ----------
    views : array-like of shape (n_molecules, n_views, hidden_dim) (16 views per molecule in
        :func:`molstrata.analysis.analyze`)
    delta : ridge on the within-class scatter (1e-4)
    alpha : Rényi order of the entropy

    Returns
    -------
    float in nats, in [0, log(min(n_molecules − 1, hidden_dim))].
    """
    lam = lda_spectrum(views, delta)
    total = lam.sum()
    return spectrum_entropy(lam / total, alpha) if total > 0 else 0.0


def joint_entropy(K1: np.ndarray, K2: np.ndarray, alpha: float = 1.0) -> float:
    """Matrix-based joint entropy ``S_α(K1 ∘ K2 / tr(K1 ∘ K2))`` of two (N, N) Gram matrices."""
    H = K1 * K2
    tr = np.trace(H)
    if tr <= 0:
        return 0.0
    lam = np.clip(np.linalg.eigvalsh(H / tr), 0.0, None)
    return spectrum_entropy(lam / lam.sum(), alpha)


def dime(
    Z1: Any, Z2: Any, alpha: float = 1.0, n_permutations: int = 10, seed: int = 0
) -> float:
    """DiME between two views: ``E_P[H(K1, P K2 Pᵀ)] − H(K1, K2)``.

    Parameters
    ----------
    Z1, Z2 : array-like of shape (n_molecules, hidden_dim); rows are centred and
        L2-normalised, Grams are linear
    alpha : Rényi order
    n_permutations : random permutations averaged for the expectation
    seed : seed of the permutations

    Returns
    -------
    float in nats: ≈0 when the views are independent, larger when they share information.
    Costs ``n_permutations + 1`` eigendecompositions of an (N, N) matrix.
    """
    Z1, Z2 = _two_views(Z1, Z2)
    A, B = normalize_rows(Z1), normalize_rows(Z2)
    K1, K2 = A @ A.T, B @ B.T
    rng = np.random.default_rng(seed)
    shuffled = []
    for _ in range(int(n_permutations)):
        p = rng.permutation(K2.shape[0])
        shuffled.append(joint_entropy(K1, K2[np.ix_(p, p)], alpha))
    return float(np.mean(shuffled) - joint_entropy(K1, K2, alpha))
