"""The tuned heads saved and rebuilt (issue 21): :func:`export_probe` of a fitted
``TunedMLPProbe`` (per layer its own chosen architecture and ``n_inits`` averaged networks)
or ``TunedGBDTProbe``, and :class:`SavedProbe` predicting exactly as the fitted probe, byte
for byte. A description its arrays do not match (wrong shapes, a member count that differs,
an unknown kind, missing or extra arrays) is refused in one line before anything is built."""

from __future__ import annotations

import numpy as np
import pytest

from extras import installed_or_skip
from molstrata.core.errors import ConfigError
from molstrata.probe.export import SavedProbe, export_probe
from molstrata.probe.tuned import TunedGBDTProbe, TunedMLPProbe

MLP_GRID = [{"hidden": 6, "depth": 1, "dropout": 0.0}, {"hidden": 5, "depth": 3, "dropout": 0.2, "lr": 3e-3}]
GBDT_GRID = [{"num_leaves": 4}, {"num_leaves": 8, "min_child_samples": 5}]


def _data(task_type: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    dims = (7, 12, 9)
    n_tr, n_va, n_te = 120, 40, 30
    base = rng.normal(size=(n_tr + n_va + n_te, 4))
    layers = [np.hstack([base * (k + 1), rng.normal(size=(len(base), d - 4))]).astype(np.float32)
              for k, d in enumerate(dims)]
    y = base[:, 0] - 0.5 * base[:, 1] ** 2
    if task_type == "classification":
        y = (y > np.median(y)).astype(np.float64)
    part = lambda a, b: [x[a:b] for x in layers]  # noqa: E731
    return (part(0, n_tr), y[:n_tr], part(n_tr, n_tr + n_va), y[n_tr:n_tr + n_va],
            part(n_tr + n_va, None))


def _fit_mlp(task_type="regression"):
    Xtr, ytr, Xva, yva, Xte = _data(task_type)
    est = TunedMLPProbe(task_type=task_type, grid=MLP_GRID, n_inits=2, max_epochs=8, patience=3,
                        batch_size=32, seed=3).fit(Xtr, ytr, Xva, yva)
    return est, Xte


@pytest.fixture(scope="module")
def mlp_saved():
    est, Xte = _fit_mlp()
    return est, Xte, *export_probe(est)


@pytest.mark.parametrize("task_type", ["regression", "classification"])
def test_tuned_mlp_round_trip_is_byte_identical(task_type):
    est, Xte = _fit_mlp(task_type)
    meta, arrays = export_probe(est)
    assert meta["kind"] == "mlp-tuned" and meta["n_inputs"] == 3
    chosen = [MLP_GRID[i] for i in est.best_param_]
    for spec, cfg in zip(meta["inputs"], chosen, strict=True):
        assert (spec["hidden"], spec["depth"]) == (cfg["hidden"], cfg["depth"])
        assert len(spec["y_scale"]) == 2  # n_inits networks, each saved
    assert not any(a.dtype == object for a in arrays.values())
    np.testing.assert_array_equal(SavedProbe(meta, arrays).predict(Xte), est.predict(Xte))


@pytest.mark.parametrize("task_type", ["regression", "classification"])
def test_tuned_gbdt_round_trip_is_byte_identical(task_type):
    installed_or_skip("lightgbm", "this test")
    Xtr, ytr, Xva, yva, Xte = _data(task_type, seed=1)
    est = TunedGBDTProbe(task_type=task_type, grid=GBDT_GRID, n_estimators=40, early_stopping_rounds=5,
                         seed=2).fit(Xtr, ytr, Xva, yva)
    meta, arrays = export_probe(est)
    assert meta["kind"] == "gbdt-tuned" and meta["configs"] == [int(i) for i in est.best_param_]
    np.testing.assert_array_equal(SavedProbe(meta, arrays).predict(Xte), est.predict(Xte))


def _refused(meta, arrays, *words):
    with pytest.raises(ConfigError) as err:
        probe = SavedProbe(meta, arrays)
        probe.predict([np.zeros((2, 7), np.float32), np.zeros((2, 12), np.float32), np.zeros((2, 9), np.float32)])
    msg = str(err.value)
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, msg


def _inputs(meta, j, **change):
    inputs = [dict(s) for s in meta["inputs"]]
    inputs[j].update(change)
    return {**meta, "inputs": inputs}


def test_damaged_tuned_mlp_descriptions_are_refused_in_one_line(mlp_saved):
    _, _, meta, arrays = mlp_saved
    key = "s1.m1.net.0.weight"
    _refused(meta, {**arrays, key: arrays[key][:, :-1]}, repr(key), "shape")  # wrong shape
    _refused(meta, {**arrays, key: arrays[key].astype(np.float64)}, repr(key), "dtype")
    _refused(meta, {k: v for k, v in arrays.items() if k != "s2.m0.std"}, "'s2.m0.std'", "missing")
    one = meta["inputs"][0]["y_scale"]
    _refused(_inputs(meta, 0, y_scale=one[:1]), arrays, "inputs[0]", "more")  # fewer members than arrays
    _refused(_inputs(meta, 0, y_scale=[*one, one[0]]), arrays, "'s0.m2.", "missing")  # more members
    _refused(_inputs(meta, 1, hidden=10**9), arrays, "s1.m0.net.0.weight")  # nothing allocated
    _refused(_inputs(meta, 1, depth=10**6), arrays, "inputs[1].depth")
    _refused(_inputs(meta, 1, dropout="x"), arrays, "inputs[1].dropout")
    _refused(_inputs(meta, 2, y_scale=[[0.0, float("nan")]] * 2), arrays, "inputs[2].y_scale[0] std")
    _refused({**meta, "inputs": meta["inputs"][:2]}, arrays, "n_inputs = 3")
    _refused({**meta, "n_inputs": "3"}, arrays, "n_inputs")
    _refused({**meta, "kind": "mlp-tuned-v9"}, arrays, "unknown kind", "'mlp-tuned-v9'")
    _refused({**meta, "task_type": "ranking"}, arrays, "task_type")
    _refused(meta, {**arrays, "s9.payload": np.zeros(3)}, "unexpected array", "'s9.payload'")
    _refused(meta, {}, "missing")


def test_damaged_tuned_gbdt_descriptions_are_refused_in_one_line():
    installed_or_skip("lightgbm", "this test")
    meta = {"kind": "gbdt-tuned", "task_type": "regression", "n_inputs": 3, "configs": [0, 1, 0]}
    text = {f"s{j}.lightgbm": np.frombuffer(b"not a model", dtype=np.uint8).copy() for j in range(3)}
    _refused(meta, text, "LightGBM cannot read")  # built at the first predict: still one line
    _refused({**meta, "configs": [0, 1]}, text, "configs")
    _refused({**meta, "configs": [0, -1, 0]}, text, "configs[1]")
    _refused(meta, {k: v for k, v in text.items() if k != "s1.lightgbm"}, "'s1.lightgbm'")
    _refused(meta, {**text, "s0.lightgbm": np.zeros(4, np.float32)}, "'s0.lightgbm'")
