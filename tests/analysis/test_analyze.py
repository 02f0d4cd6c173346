"""``analyze`` end to end on a tiny seeded encoder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from molstrata.analysis import METRICS, DepthProfile, analyze, matrix_entropy
from molstrata.core.errors import ConfigError, InvalidSmilesError


@pytest.fixture(scope="module")
def profile(toy_encoder, small_smiles, tmp_path_factory) -> DepthProfile:
    # module scope runs before the autouse per-test cache fixture: isolate the cache here
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path_factory.mktemp("analysis_cache")))
        return analyze(toy_encoder, small_smiles, max_molecules=40, seed=3, token_molecules=20,
                       aug_molecules=16, n_augmentations=4, dime_permutations=3)


def test_every_metric_for_every_layer(profile, toy_encoder):
    n_layers = toy_encoder.num_layers + 1
    assert list(profile.metrics.columns) == ["encoder", "layer", "relative_depth", "metric", "value"]
    wide = profile.wide()
    assert list(wide.columns) == list(METRICS)
    assert wide.shape == (n_layers, len(METRICS))
    finite = wide.drop(columns="depth_curvature")
    assert np.isfinite(finite.to_numpy()).all()
    assert np.isnan(wide["depth_curvature"].iloc[[0, -1]]).all()
    assert profile.cka.shape == (n_layers, n_layers)
    assert profile.n_molecules == 40
    assert any("subsampled 40 of 60" in n for n in profile.notes)


def test_dataset_entropy_matches_a_direct_computation(profile, toy_encoder, small_smiles):
    emb = toy_encoder.embed([small_smiles[i] for i in profile.rows])
    got = profile.wide()["dataset_entropy"].to_numpy()
    expected = [matrix_entropy(np.asarray(z, dtype=np.float64), normalized=True) for z in emb]
    assert got == pytest.approx(expected, rel=1e-5)


def test_deterministic_for_a_seed(profile, toy_encoder, small_smiles):
    again = analyze(toy_encoder, small_smiles, max_molecules=40, seed=3, token_molecules=20,
                    aug_molecules=16, n_augmentations=4, dime_permutations=3)
    pd.testing.assert_frame_equal(again.metrics, profile.metrics)
    other = analyze(toy_encoder, small_smiles, max_molecules=40, seed=4,
                    metrics=["dataset_entropy"])
    assert not np.array_equal(other.rows, profile.rows)


def test_invalid_smiles_are_reported_by_input_row(toy_encoder, small_smiles):
    bad = list(small_smiles)
    bad[47] = "C1CC(("
    with pytest.raises(InvalidSmilesError, match="row 47") as info:
        analyze(toy_encoder, bad, max_molecules=10, source="mols.csv")
    assert info.value.indices == [47] and "mols.csv" in str(info.value)


def test_layer_embeddings_input_gives_pooled_metrics_and_says_what_was_skipped(toy_encoder, small_smiles):
    emb = toy_encoder.embed(small_smiles[:30] + ["not a smiles"], on_invalid="mask")
    prof = analyze(emb, metrics=["dataset_entropy", "token_entropy", "cka_final"])
    assert set(prof.metrics["metric"]) == {"dataset_entropy", "cka_final"}
    assert prof.n_molecules == 30
    assert any("skipped token_entropy" in n for n in prof.notes)
    assert any("1 invalid rows excluded (rows 30)" in n for n in prof.notes)


def test_unknown_metric_names_the_choices(toy_encoder, small_smiles):
    with pytest.raises(ConfigError, match="invalid metric 'entropy'.*dataset_entropy"):
        analyze(toy_encoder, small_smiles, metrics=["entropy"])


def test_recommendation_comes_from_the_profile(profile):
    ent = profile.wide()["dataset_entropy"]
    assert profile.recommend_layer() == int(ent.iloc[1:].idxmax())
