"""Linear CKA, its debiased and minibatch variants, against independent formulas."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from molstrata.analysis import cka_matrix, hsic_unbiased, linear_cka, minibatch_cka
from molstrata.analysis._utils import AnalysisInputError
from molstrata.core.errors import ConfigError


def _cka_gram_formula(X, Y):
    """Kornblith et al. Eq. via centred Gram matrices: tr(KHLH)/sqrt(tr(KHKH) tr(LHLH))."""
    n = X.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = X @ X.T, Y @ Y.T
    hsic = lambda A, B: np.trace(A @ H @ B @ H)  # noqa: E731
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def _hsic_u_bruteforce(K, L):
    """The U-statistic definition: mean over ordered distinct (i, j, q, r) of
    K_ij L_ij + K_ij L_qr - 2 K_ij L_iq (Song et al., 2012)."""
    n = K.shape[0]
    total, count = 0.0, 0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += K[i, j] * L[i, j] + K[i, j] * L[q, r] - 2 * K[i, j] * L[i, q]
        count += 1
    return total / count


def test_cka_is_one_under_orthogonal_maps_and_isotropic_scaling(rng):
    X = rng.normal(size=(60, 10)) * np.arange(1, 11)
    Q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    assert linear_cka(X, X @ Q) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(X, 0.01 * X @ Q + 5.0) == pytest.approx(1.0, abs=1e-10)
    Y = rng.normal(size=(60, 7))
    assert linear_cka(X, 3.7 * Y) == pytest.approx(linear_cka(X, Y), rel=1e-10)
    assert linear_cka(X, Y, debiased=True) == pytest.approx(
        linear_cka(2.0 * X, 0.5 * Y, debiased=True), rel=1e-10
    )


def test_cka_is_not_invariant_to_anisotropic_scaling(rng):
    X = rng.normal(size=(200, 5))
    assert linear_cka(X, X * np.array([10, 1, 1, 1, 0.1])) < 0.95


def test_feature_form_matches_centred_gram_formula(rng):
    X = rng.normal(size=(40, 8))
    Y = np.tanh(X @ rng.normal(size=(8, 12))) + 0.3 * rng.normal(size=(40, 12))
    assert linear_cka(X, Y) == pytest.approx(_cka_gram_formula(X, Y), rel=1e-10)


def test_unbiased_hsic_matches_the_u_statistic_definition(rng):
    X, Y = rng.normal(size=(7, 3)), rng.normal(size=(7, 4))
    K, L = X @ X.T, Y @ Y.T
    assert hsic_unbiased(K, L) == pytest.approx(_hsic_u_bruteforce(K, L), rel=1e-9)


def test_debiased_cka_is_near_zero_for_unrelated_wide_representations(rng):
    X, Y = rng.normal(size=(30, 300)), rng.normal(size=(30, 300))
    assert linear_cka(X, Y) > 0.5  # the plain estimator is biased upwards at small n
    assert abs(linear_cka(X, Y, debiased=True)) < 0.1


def test_cka_matrix_methods_agree_with_pairwise(rng):
    base = rng.normal(size=(120, 6))
    layers = [base, np.tanh(base @ rng.normal(size=(6, 9))), rng.normal(size=(120, 4))]
    for method, kw in (("linear", {}), ("debiased", {"debiased": True})):
        M = cka_matrix(layers, method=method)
        assert M.shape == (3, 3)
        assert np.allclose(M, M.T)
        assert np.allclose(np.diag(M), 1.0)
        for i, j in itertools.combinations(range(3), 2):
            assert M[i, j] == pytest.approx(linear_cka(layers[i], layers[j], **kw), rel=1e-8)


def test_minibatch_with_one_batch_equals_full_debiased(rng):
    X = rng.normal(size=(50, 5))
    Y = X @ rng.normal(size=(5, 5)) + rng.normal(size=(50, 5))
    assert minibatch_cka(X, Y, batch_size=50) == pytest.approx(linear_cka(X, Y, debiased=True))
    # several batches: a different but close estimate
    assert minibatch_cka(X, Y, batch_size=16, seed=1) == pytest.approx(
        linear_cka(X, Y, debiased=True), abs=0.15
    )


def test_errors_name_the_problem(rng):
    with pytest.raises(AnalysisInputError, match="same rows"):
        linear_cka(rng.normal(size=(5, 2)), rng.normal(size=(6, 2)))
    with pytest.raises(ConfigError, match="valid choices"):
        cka_matrix([np.eye(4)], method="rbf")
