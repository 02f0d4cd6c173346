"""The linear probe and its CV on an explicit ``device="cpu"`` (the code path ``--device``
takes) give the same bytes as the default, on every route: ridge and logistic, the
covariance and Gram eigenbases, sparse wide rows (fingerprint counts) and the CV's fold sums.
A GPU is not tested here (none on the test machines)."""

from __future__ import annotations

import numpy as np
import pytest

from molstrata.probe.cv import cross_validate, scaffold_folds
from molstrata.probe.device import as_numpy, current_device, placed, probe_device, to_device
from molstrata.probe.linear import LinearProbe


def _layers(rng, n, widths, sparse=False):
    if sparse:
        return [rng.poisson(0.03, size=(n, w)).astype(np.float32) for w in widths]
    return [rng.normal(size=(n, w)).astype(np.float32) for w in widths]


def _fit_bytes(task_type, n, widths, sparse=False):
    rng = np.random.default_rng(3)
    X = _layers(rng, n + 40, widths, sparse)
    signal = X[0][:, :3].sum(axis=1)
    y = (signal > np.median(signal)).astype(float) if task_type == "classification" else signal
    probe = LinearProbe(task_type=task_type).fit([x[:n] for x in X], y[:n], [x[n:] for x in X], y[n:])
    parts = [probe.predict_grid([x[n:] for x in X]), probe.valid_grid_scores_, probe.intercept_,
             *probe.coef_]
    return b"".join(np.ascontiguousarray(p).tobytes() for p in parts)


CASES = [
    ("regression", 120, (6, 6, 9), False),  # covariance route, two width groups
    ("classification", 120, (6, 6, 9), False),
    ("regression", 15, (30, 30), False),  # Gram route (fewer rows than columns)
    ("classification", 300, (1024,), True),  # sparse wide rows: SciPy products, float32 basis
]


@pytest.mark.parametrize(("task_type", "n", "widths", "sparse"), CASES)
def test_linear_probe_on_explicit_cpu_matches_the_default(task_type, n, widths, sparse):
    default = _fit_bytes(task_type, n, widths, sparse)
    with probe_device("cpu"):
        assert current_device() == "cpu"
        explicit = _fit_bytes(task_type, n, widths, sparse)
    assert explicit == default


@pytest.mark.parametrize("task_type", ["regression", "classification"])
def test_cross_validation_on_explicit_cpu_matches_the_default(task_type):
    rng = np.random.default_rng(5)
    X = _layers(rng, 150, (7, 7, 12))
    y = X[1][:, 0] + 0.3 * rng.normal(size=150)
    if task_type == "classification":
        y = (y > 0).astype(float)
    folds = scaffold_folds(np.arange(150) // 2, 5, seed=1)
    metric = "roc-auc" if task_type == "classification" else "mae"

    def run():
        res = cross_validate(X, y, folds, task_type=task_type, metric=metric)
        return res.fold_scores.tobytes() + res.oof.tobytes()

    default = run()
    with probe_device("cpu"):
        assert run() == default


def test_probe_device_is_scoped_and_defaults_to_the_cpu():
    import torch

    assert current_device() == "cpu"
    with probe_device("cpu"):
        with probe_device(None):
            assert current_device() == "cpu"
        with probe_device("mps"):  # no float64 there: the probes stay on the CPU
            assert current_device() == "cpu"
        t = torch.arange(3.0)
        assert to_device(t) is t  # no copy on the CPU
        assert np.shares_memory(as_numpy(t), t.numpy())
    assert current_device() == "cpu"


def test_probes_go_to_cpu_and_cuda_devices_only():
    assert placed(None) == placed("cpu") == placed("mps") == "cpu"
    assert placed("cuda") == "cuda" and placed("cuda:1") == "cuda:1"
