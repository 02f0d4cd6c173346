"""Matrix entropy and effective rank against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from extras import import_or_skip
from molstrata.analysis import effective_rank, gram_spectrum, matrix_entropy, token_entropy
from molstrata.analysis._utils import AnalysisInputError
from molstrata.core.errors import MolstrataError


def _prep(Z):
    Z = Z - Z.mean(0)
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


def test_isotropic_gaussian_has_near_maximal_normalised_entropy(rng):
    Z = rng.normal(size=(4000, 32))
    assert matrix_entropy(Z, normalized=True) > 0.99
    assert matrix_entropy(Z, normalized=True) <= 1.0 + 1e-12


def test_anisotropic_data_has_lower_entropy_than_isotropic(rng):
    Z = rng.normal(size=(2000, 32))
    scaled = Z * np.geomspace(1, 1e-3, 32)
    assert matrix_entropy(scaled, normalized=True) < matrix_entropy(Z, normalized=True) - 0.2


def test_exact_rank_r_construction_has_effective_rank_r():
    # rows ±e_i (i < r) in 10 dims: already centred and unit-norm; ZᵀZ = 2·I_r → λ = 1/r
    for r in (1, 3, 7):
        E = np.eye(10)[:r]
        Z = np.concatenate([E, -E])
        assert effective_rank(Z) == pytest.approx(r, abs=1e-9)
        assert matrix_entropy(Z) == pytest.approx(np.log(r), abs=1e-9)


def test_random_rank_r_data_has_effective_rank_close_to_r(rng):
    r, d = 5, 64
    Q, _ = np.linalg.qr(rng.normal(size=(d, r)))
    Z = rng.normal(size=(3000, r)) @ Q.T
    assert effective_rank(Z) == pytest.approx(r, rel=0.03)


def test_renyi_alpha_to_one_limit(rng):
    Z = rng.normal(size=(200, 20)) * np.linspace(1, 3, 20)
    s1 = matrix_entropy(Z, alpha=1.0)
    assert matrix_entropy(Z, alpha=1.0 + 1e-6) == pytest.approx(s1, abs=1e-4)
    assert matrix_entropy(Z, alpha=1.0 - 1e-6) == pytest.approx(s1, abs=1e-4)
    # Rényi entropy is non-increasing in alpha
    assert matrix_entropy(Z, alpha=0.5) >= s1 >= matrix_entropy(Z, alpha=2.0)


def test_alpha_two_matches_frobenius_closed_form(rng):
    # S_2 = -log Σ λ² = -log(‖K‖_F² / tr(K)²), no eigendecomposition needed
    Z = rng.normal(size=(80, 30)) @ rng.normal(size=(30, 30))
    K = _prep(Z) @ _prep(Z).T
    expected = -np.log(np.sum(K * K) / np.trace(K) ** 2)
    assert matrix_entropy(Z, alpha=2.0) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("shape", [(40, 300), (300, 40)])
def test_smaller_gram_matches_naive_n_by_n_eigendecomposition(rng, shape):
    Z = rng.normal(size=shape) @ np.diag(rng.uniform(0.1, 2, size=shape[1]))
    P = _prep(Z)
    lam = np.clip(np.linalg.eigvalsh(P @ P.T), 0, None)
    lam = lam[lam > 1e-12 * lam.sum()] / lam.sum()
    naive = -(lam * np.log(lam)).sum()
    assert matrix_entropy(Z) == pytest.approx(naive, rel=1e-9)
    assert gram_spectrum(Z).sum() == pytest.approx(1.0)
    assert len(gram_spectrum(Z)) == min(shape)


def test_normalisation_divides_by_log_min_n_d(rng):
    Z = rng.normal(size=(50, 20))
    assert matrix_entropy(Z, normalized=True) == pytest.approx(matrix_entropy(Z) / np.log(20))


def test_invariant_to_rotation_and_scale_and_accepts_torch(rng):
    torch = import_or_skip("torch", "this test")
    Z = rng.normal(size=(100, 12)) * np.arange(1, 13)
    Q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    base = matrix_entropy(Z)
    assert matrix_entropy(4.2 * Z @ Q) == pytest.approx(base, rel=1e-9)
    assert matrix_entropy(torch.tensor(Z, dtype=torch.float64)) == pytest.approx(base, rel=1e-12)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(AnalysisInputError, match="2 dimensions"):
        matrix_entropy(np.zeros(5))
    Z = np.ones((4, 3))
    Z[2, 1] = np.nan
    with pytest.raises(MolstrataError, match=r"NaN or inf \(first at index \(2, 1\)\)"):
        matrix_entropy(Z)
    with pytest.raises(AnalysisInputError, match="alpha"):
        matrix_entropy(np.eye(3), alpha=0)


def test_token_entropy_is_the_mean_over_molecules_with_two_or_more_tokens(rng):
    mols = [rng.normal(size=(t, 8)) for t in (5, 9, 1, 12)]
    expected = np.mean([matrix_entropy(m, normalized=True) for m in (mols[0], mols[1], mols[3])])
    assert token_entropy(mols) == pytest.approx(expected)
    assert np.isnan(token_entropy([np.ones((1, 4))]))
