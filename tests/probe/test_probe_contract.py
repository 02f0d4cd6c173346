"""Every registered probe (:data:`molstrata.probe.estimators.PROBE_CLASSES`) is a
scikit-learn estimator: sklearn's own checks where they apply, plus the probe contract
(clone round-trip, fit / predict shapes, same result at a fixed seed)."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from extras import installed_or_skip
from molstrata.core.errors import ConfigError, NotFittedError
from molstrata.probe.estimators import PROBE_CLASSES, make_probe

TASK_TYPES = ("regression", "classification")
#: small settings so that each probe fits in well under a second
FAST = {"mlp": {"hidden": 8, "max_epochs": 5, "patience": 2, "batch_size": 16},
        "gbdt": {"n_estimators": 20, "early_stopping_rounds": 5, "n_jobs": 1}}
NEEDS = {"gbdt": "lightgbm"}

# sklearn's checks that do not apply to a probe, and why. The probes take one array per
# layer and tune on a validation split: fit(X_train, y_train, X_valid, y_valid) -> predict
# (n_layers, n_molecules). Every check that calls fit(X, y) on one matrix fails on that.
FIT_SIGNATURE = ("fit takes (X_train, y_train, X_valid, y_valid), one array per layer, and predict "
                 "returns (n_layers, n_molecules); sklearn's check calls fit(X, y)")
FIT_CHECKS = (
    "check_classifier_data_not_an_array", "check_classifiers_classes", "check_classifiers_one_label",
    "check_classifiers_regression_target", "check_classifiers_train", "check_complex_data",
    "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object",
    "check_estimator_sparse_array", "check_estimator_sparse_matrix", "check_estimator_sparse_tag",
    "check_estimators_dtypes", "check_estimators_empty_data_messages", "check_estimators_fit_returns_self",
    "check_estimators_nan_inf", "check_estimators_overwrite_params", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_fit1d", "check_fit2d_1feature", "check_fit2d_1sample",
    "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent", "check_fit_score_takes_y",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_n_features_in",
    "check_n_features_in_after_fitting", "check_non_transformer_estimators_n_iter",
    "check_pipeline_consistency", "check_positive_only_tag_during_fit", "check_readonly_memmap_input",
    "check_regressor_data_not_an_array", "check_regressors_int", "check_regressors_no_decision_function",
    "check_regressors_train", "check_requires_y_none", "check_supervised_y_2d", "check_supervised_y_no_nan",
)
OTHER = {
    "check_array_api_input": "the probes compute with numpy / torch, not the array API",
    "check_estimators_unfitted": "predict before fit raises molstrata's NotFittedError (a ValueError with a "
                                 "one-line message), not scikit-learn's",
    "check_classifier_not_supporting_multiclass": "classification probes take 0/1 labels only; fit "
                                                  "takes a validation split (see FIT_SIGNATURE)",
}


def expected_failed_checks(estimator) -> dict[str, str]:
    out = {**dict.fromkeys(FIT_CHECKS, FIT_SIGNATURE), **OTHER}
    if "max_iter" not in estimator.get_params():  # the check only fits estimators with max_iter
        del out["check_non_transformer_estimators_n_iter"]
    return out


def _available(name: str) -> bool:
    if os.environ.get("MOLSTRATA_REQUIRE_EXTRAS") == "1":
        return True  # every extra is required here: a missing one fails, not drops
    return name not in NEEDS or importlib.util.find_spec(NEEDS[name]) is not None


CASES = [(name, tt) for name in PROBE_CLASSES for tt in TASK_TYPES]
CASE_IDS = [f"{name}-{tt}" for name, tt in CASES]


@parametrize_with_checks([PROBE_CLASSES[n](task_type=tt) for n, tt in CASES if _available(n)],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_checks(estimator, check):
    check(estimator)


def _data(task_type: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_tr, n_va, n_te, dims = 80, 30, 12, (3, 5)
    X = [rng.normal(size=(n_tr + n_va + n_te, d)).astype(np.float32) for d in dims]
    y = X[1][:, 0] + 0.3 * rng.normal(size=len(X[1]))
    if task_type == "classification":
        y = (y > 0).astype(float)
    part = lambda a, b: [x[a:b] for x in X]  # noqa: E731
    return (part(0, n_tr), y[:n_tr], part(n_tr, n_tr + n_va), y[n_tr:n_tr + n_va],
            part(n_tr + n_va, None))


@pytest.fixture(params=CASES, ids=CASE_IDS)
def case(request):
    name, task_type = request.param
    if name in NEEDS:
        installed_or_skip(NEEDS[name], f"the {name} probe")
    return name, task_type, make_probe(name, task_type, None, 3, **FAST.get(name, {}))


def test_tags_follow_the_task_type(case):
    name, task_type, est = case
    assert is_regressor(est) == (task_type == "regression")
    assert is_classifier(est) == (task_type == "classification")
    assert repr(est).startswith(type(est).__name__ + "(")


def test_clone_round_trip(case):
    name, task_type, est = case
    twin = clone(est)
    assert type(twin) is type(est) and twin is not est
    assert twin.get_params() == est.get_params()
    Xtr, ytr, Xva, yva, _ = _data(task_type)
    est.fit(Xtr, ytr, Xva, yva)
    fresh = clone(est)  # a clone of a fitted probe is unfitted, with the same parameters
    assert fresh.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        fresh.predict(Xva)
    first = est.get_params()
    key = next(iter(first))
    assert est.set_params(**{key: first[key]}) is est
    with pytest.raises(ConfigError, match="unknown parameter"):
        est.set_params(not_a_parameter=1)


def test_fit_predict_shapes(case):
    name, task_type, est = case
    Xtr, ytr, Xva, yva, Xte = _data(task_type)
    assert est.fit(Xtr, ytr, Xva, yva) is est
    pred = est.predict(Xte)
    assert pred.shape == (len(Xte), Xte[0].shape[0]) and np.isfinite(pred).all()
    assert est.valid_scores_.shape == est.best_param_.shape == (len(Xtr),)
    if task_type == "classification":
        assert ((pred >= 0) & (pred <= 1)).all()
    with pytest.raises(ConfigError):
        est.predict(Xte[:1])  # one layer of two


def test_same_seed_same_result(case):
    name, task_type, est = case
    Xtr, ytr, Xva, yva, Xte = _data(task_type)
    a = clone(est).fit(Xtr, ytr, Xva, yva)
    b = clone(est).fit(Xtr, ytr, Xva, yva)
    np.testing.assert_array_equal(a.predict(Xte), b.predict(Xte))
    np.testing.assert_array_equal(a.valid_scores_, b.valid_scores_)
