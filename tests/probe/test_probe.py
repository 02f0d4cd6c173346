"""``probe`` on synthetic embeddings: the layer is chosen on validation only."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error

from molstrata.core.embeddings import LayerEmbeddings
from molstrata.core.errors import ConfigError
from molstrata.probe import MLPProbe, probe


def _poison(split, values):
    test = split.test.copy()
    test["Y"] = values
    return dataclasses.replace(split, test=test)


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_poisoned_test_labels_do_not_change_selection(kind, reg_data, clf_data):
    emb, split = reg_data if kind == "regression" else clf_data
    clean = probe(emb, split, strategy="valid")
    rng = np.random.default_rng(5)
    n = len(split.test)
    garbage = rng.integers(0, 2, n).astype(float) if kind == "classification" else rng.normal(1e6, 1e6, n)
    for values in (garbage, split.test["Y"].to_numpy()[::-1].copy()):
        bad = probe(emb, _poison(split, values), strategy="valid")
        assert bad.selected_layer == clean.selected_layer
        np.testing.assert_array_equal(bad.valid_scores, clean.valid_scores)
        np.testing.assert_array_equal(bad.params, clean.params)
        np.testing.assert_array_equal(bad.test_pred, clean.test_pred)
        assert not np.allclose(bad.test_scores, clean.test_scores)  # test labels did change


def test_probe_finds_the_signal_layer_and_scores_test(reg_data):
    emb, split = reg_data
    s = probe(emb, split, strategy="valid")
    assert s.selected_layer == 2  # the layer built to carry the signal
    assert s.valid_scores.shape == s.test_scores.shape == (4,)
    # test score of every layer recomputed independently from the predictions
    assert s.test_scores[2] == pytest.approx(mean_absolute_error(split.test["Y"], s.test_pred))
    assert list(s.test_ids) == split.test["Drug_ID"].tolist()
    assert s.final_layer == 3 and s.relative_depth[-1] == 1.0


def test_invalid_molecules_are_reported_not_dropped_silently(reg_data):
    emb, split = reg_data
    valid = emb.valid.copy()
    train_row = emb.smiles.index(split.train["Drug"].iloc[3])
    test_row = emb.smiles.index(split.test["Drug"].iloc[7])
    valid[[train_row, test_row]] = False
    layers = tuple(np.where(valid[:, None], x, np.nan).astype(np.float32) for x in emb.layers)
    bad = LayerEmbeddings(layers=layers, valid=valid, smiles=emb.smiles, encoder="synthetic")
    s = probe(bad, split, strategy="valid")
    notes = " ".join(s.meta["notes"])
    assert "train rows [3]" in notes and "test rows [7]" in notes
    assert len(s.test_pred) == len(split.test)
    assert s.test_pred[7] == pytest.approx(np.delete(split.train["Y"].to_numpy(), 3).mean())


def test_missing_molecules_raise(reg_data):
    emb, split = reg_data
    short = emb.subset(np.arange(emb.n_molecules - 5))
    with pytest.raises(ConfigError, match="lack 5 SMILES of task toy"):
        probe(short, split, strategy="valid")


def test_mlp_probe_is_seeded_and_early_stops(reg_data):
    emb, split = reg_data
    X = [x[:120] for x in emb.layers][:3]
    V = [x[120:160] for x in emb.layers][:3]
    y, yv = split.train["Y"].to_numpy(), split.valid["Y"].to_numpy()
    a = MLPProbe(max_epochs=12, patience=3, batch_size=64, seed=3).fit(X, y, V, yv)
    b = MLPProbe(max_epochs=12, patience=3, batch_size=64, seed=3).fit(X, y, V, yv)
    np.testing.assert_array_equal(a.predict(V), b.predict(V))
    assert ((1 <= a.best_param_) & (a.best_param_ <= 12)).all()
    np.testing.assert_allclose(a.valid_scores_, [mean_absolute_error(yv, p) for p in a.predict(V)])
    assert a.valid_scores_[2] < a.valid_scores_[0]  # the signal layer probes better


def test_gbdt_probe(clf_data):
    emb, split = clf_data
    s = probe(emb, split, model="gbdt", params={"n_estimators": 60, "early_stopping_rounds": 10, "n_jobs": 1},
              strategy="valid")
    assert s.selected_layer == 2
    assert ((s.params >= 1) & (s.params <= 60)).all()
    assert ((s.test_pred >= 0) & (s.test_pred <= 1)).all()


def test_mlp_through_probe(clf_data):
    emb, split = clf_data
    s = probe(emb, split, model="mlp", params={"max_epochs": 5, "patience": 2}, strategy="valid")
    assert s.model == "mlp" and s.valid_scores.shape == (4,)


def test_top_level_probe_api(reg_data):
    import molstrata
    import molstrata.runs.probe  # noqa: F401  (binds molstrata.probe to the package)

    emb, split = reg_data
    assert (molstrata.probe.probe(emb, split, strategy="valid").selected_layer
            == probe(emb, split, strategy="valid").selected_layer)
    assert "probe" in dir(molstrata.probe) and molstrata.probe.LinearProbe.__name__ == "LinearProbe"
    assert type(molstrata.probe) is types.ModuleType  # a plain package: no callable-module swap
    assert molstrata.select_layer([0.1, 0.3], "roc-auc") == 1
