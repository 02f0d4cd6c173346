"""Regression targets are standardised on train only and round-trip exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from molstrata.core.errors import ConfigError
from molstrata.finetune import TargetScaler

# target-like values: |y| in {0} U [1e-6, 1e6] (assay units, logs, 0/1)
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).filter(
    lambda v: v == 0 or abs(v) >= 1e-6)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 50), elements=finite), arrays(np.float64, 7, elements=finite))
def test_standardisation_round_trips(y_train, y_other):
    scaler = TargetScaler.fit(y_train)
    z = scaler.transform(y_other)
    assert z.dtype == np.float32  # what the network trains on
    back = scaler.inverse_transform(z)
    # float32 z: exact up to float32 rounding of (y - mean) / scale
    tol = 1e-6 * (np.abs(y_other) + abs(scaler.mean) + scaler.scale)
    assert (np.abs(back - y_other) <= tol).all()


def test_statistics_come_from_train_only():
    rng = np.random.default_rng(0)
    y_train = rng.normal(3.0, 2.0, size=200)
    scaler = TargetScaler.fit(y_train)
    assert scaler.mean == pytest.approx(np.mean(y_train))
    assert scaler.scale == pytest.approx(np.std(y_train))  # population std, as sklearn's
    from sklearn.preprocessing import StandardScaler

    ref = StandardScaler().fit(y_train[:, None])
    y_valid = rng.normal(10.0, 5.0, size=30)  # a shifted split must not move the scaler
    np.testing.assert_allclose(scaler.transform(y_valid), ref.transform(y_valid[:, None])[:, 0],
                               rtol=1e-6)


def test_classification_is_identity_and_bad_targets_are_named():
    assert TargetScaler.fit(np.array([0.0, 1.0, 1.0]), "classification") == TargetScaler(0.0, 1.0)
    assert TargetScaler.fit(np.array([2.0, 2.0])).scale == 1.0  # constant targets: no div by 0
    with pytest.raises(ConfigError, match=r"rows \[1\]"):
        TargetScaler.fit(np.array([1.0, np.nan, 2.0]))
