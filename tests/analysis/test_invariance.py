"""InfoNCE, LiDAR and DiME against closed forms and independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import eigh as generalized_eigh

from molstrata.analysis import dime, infonce, infonce_loss, lidar
from molstrata.analysis._utils import AnalysisInputError


def _views(rng, n=96, k=8, d=24, noise=0.1):
    scales = np.exp(-np.arange(d) / 8)
    base = rng.normal(size=(n, d)) * scales
    return base[:, None, :] + noise * rng.normal(size=(n, k, d)) * scales


def _shuffle_views(rng, V):
    n, k, _ = V.shape
    return np.stack([V[rng.permutation(n), j] for j in range(k)], axis=1)


def _infonce_loop(A, B, tau):
    """Plain loops: centre jointly, cosine logits, mean of both directions' cross-entropy."""
    mean = np.concatenate([A, B]).mean(0)
    A = (A - mean) / np.linalg.norm(A - mean, axis=1, keepdims=True)
    B = (B - mean) / np.linalg.norm(B - mean, axis=1, keepdims=True)
    n = len(A)
    ab = ba = 0.0
    for i in range(n):
        row = [np.exp(A[i] @ B[j] / tau) for j in range(n)]
        col = [np.exp(A[j] @ B[i] / tau) for j in range(n)]
        ab += -np.log(row[i] / sum(row))
        ba += -np.log(col[i] / sum(col))
    return (ab + ba) / (2 * n)


def test_infonce_matches_a_loop_implementation(rng):
    V = _views(rng, n=20, k=2, d=6, noise=0.5)
    assert infonce_loss(V[:, 0], V[:, 1], 0.1) == pytest.approx(_infonce_loop(V[:, 0], V[:, 1], 0.1))
    assert infonce(V[:, 0], V[:, 1]) == pytest.approx(np.log(20) - _infonce_loop(V[:, 0], V[:, 1], 0.1))


def test_infonce_is_higher_for_identical_than_shuffled_views(rng):
    V = _views(rng, noise=0.0)
    same = infonce(V[:, 0], V[:, 1])
    shuffled = infonce(V[:, 0], V[rng.permutation(len(V)), 1])
    assert same > shuffled + 1.0
    assert same <= np.log(len(V)) + 1e-12  # a lower bound never above log N
    assert shuffled < 0.5


def test_dime_is_higher_for_identical_than_shuffled_views(rng):
    V = _views(rng, noise=0.0)
    same = dime(V[:, 0], V[:, 1], seed=0)
    shuffled = dime(V[:, 0], V[rng.permutation(len(V)), 1], seed=0)
    assert same > 0.2
    assert abs(shuffled) < 0.05
    assert same > shuffled


def test_dime_matches_a_direct_hadamard_computation(rng):
    V = _views(rng, n=30, k=2, d=5, noise=0.3)

    def prep(Z):
        Z = Z - Z.mean(0)
        return Z / np.linalg.norm(Z, axis=1, keepdims=True)

    def joint(K1, K2):
        H = K1 * K2
        lam = np.clip(np.linalg.eigvalsh(H / np.trace(H)), 0, None)
        lam = lam[lam > 1e-15]
        lam = lam / lam.sum()
        return -(lam * np.log(lam)).sum()

    A, B = prep(V[:, 0]), prep(V[:, 1])
    K1, K2 = A @ A.T, B @ B.T
    perms = np.random.default_rng(7)
    shuffled = []
    for _ in range(5):
        p = perms.permutation(30)
        shuffled.append(joint(K1, K2[np.ix_(p, p)]))
    expected = np.mean(shuffled) - joint(K1, K2)
    assert dime(V[:, 0], V[:, 1], n_permutations=5, seed=7) == pytest.approx(expected, rel=1e-9)


def test_lidar_matches_the_generalized_eigenproblem(rng):
    V = _views(rng, n=60, k=6, d=10, noise=0.3)
    n, k, d = V.shape
    mu = V.mean(1)
    Sb = (mu - mu.mean(0)).T @ (mu - mu.mean(0)) / n
    W = (V - mu[:, None]).reshape(-1, d)
    Sw = W.T @ W / (n * k) + 1e-4 * np.eye(d)
    lam = np.clip(generalized_eigh(Sb, Sw, eigvals_only=True), 0, None)
    p = lam / lam.sum()
    p = p[p > 0]
    assert lidar(V) == pytest.approx(-(p * np.log(p)).sum(), rel=1e-7)


def test_lidar_with_identical_views_is_the_spectral_entropy_of_the_class_means(rng):
    V = np.repeat(_views(rng, n=80, k=1, d=12, noise=0.0), 4, axis=1)
    mu = V[:, 0]
    C = (mu - mu.mean(0)).T @ (mu - mu.mean(0))
    lam = np.linalg.eigvalsh(C)
    p = lam / lam.sum()
    assert lidar(V) == pytest.approx(-(p * np.log(p)).sum(), rel=1e-6)


def test_lidar_is_invariant_to_invertible_linear_maps_when_delta_is_negligible(rng):
    V = _views(rng, n=80, k=8, d=6, noise=1.0)
    A = rng.normal(size=(6, 6)) + 3 * np.eye(6)
    assert lidar(V @ A, delta=1e-12) == pytest.approx(lidar(V, delta=1e-12), rel=1e-6)


def test_lidar_is_scale_free_so_identical_views_do_not_score_higher_than_shuffled(rng):
    """Documents a property the issue's expectation overlooked: LiDAR is the entropy of the
    *normalised* LDA spectrum. Whitening by the within-class scatter of shuffled views makes
    that spectrum flatter, so shuffled views score at least as high as identical ones on
    anisotropic data. InfoNCE and DiME are the metrics that separate the two."""
    V = _views(rng, noise=0.0)
    assert lidar(_shuffle_views(rng, V)) > lidar(V)


def test_view_shape_errors(rng):
    with pytest.raises(AnalysisInputError, match="same shape"):
        infonce(rng.normal(size=(5, 3)), rng.normal(size=(5, 4)))
    with pytest.raises(AnalysisInputError, match="at least 2 views"):
        lidar(rng.normal(size=(5, 1, 3)))
    with pytest.raises(AnalysisInputError, match="3 dimensions"):
        lidar(rng.normal(size=(5, 3)))
