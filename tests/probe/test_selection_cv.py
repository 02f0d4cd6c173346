"""Layer choice that survives honest evaluation (issue 11): scaffold-grouped CV folds, the
nested CV scores, ``cv`` / ``cv-1se`` rules, ``concat`` / ``ensemble`` / ``mix``, and that no
strategy can see the test labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mean_absolute_error, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from molstrata.core.embeddings import LayerEmbeddings
from molstrata.core.errors import ConfigError
from molstrata.data import TaskSplit
from molstrata.probe import LinearProbe
from molstrata.probe._probe import fit_layers, prepare
from molstrata.probe.combine import (
    MixProbe,
    ensemble_weights,
    mix_layers,
    temperature_weights,
    top_layers,
)
from molstrata.probe.cv import cross_validate, scaffold_folds, scaffold_group_ids
from molstrata.probe.selection import (
    DEFAULT_SELECTION,
    SELECTIONS,
    parse_selection,
    primary_selection,
    select_cv,
    select_cv_1se,
    select_layer,
)
from molstrata.probe.strategies import choose, select_and_score

RINGS = ["c1ccccc1", "C1CCCCC1", "c1ccncc1", "C1CC1", "c1ccoc1", "C1CCNCC1", "c1ccsc1"]


def scaffold_smiles(n: int) -> list[str]:
    """n distinct SMILES, about three per Bemis-Murcko scaffold (ring - linker - ring, with
    side chains on the linker that the scaffold drops)."""
    out: list[str] = []
    i = 0
    while len(out) < n:
        r1, r2 = RINGS[i % len(RINGS)], RINGS[(i // len(RINGS)) % len(RINGS)].replace("1", "2")
        link = "C" * (i // len(RINGS) ** 2 + 1)
        for side in ("", "(O)", "(N)"):
            out.append(f"{r1}C{side}{link}{r2}")
        i += 1
    return out[:n]


def murcko(smi: str) -> str:
    return MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(smi), includeChirality=False)


def toy(task_type="regression", n_train=240, n_valid=60, n_test=90, dims=(5, 8, 8, 8, 6), signal=2, seed=0):
    """LayerEmbeddings + TaskSplit on scaffold SMILES; layer ``signal`` carries the label."""
    rng = np.random.default_rng(seed)
    n = n_train + n_valid + n_test
    z = rng.normal(size=n)
    layers = []
    for k, d in enumerate(dims):
        x = rng.normal(size=(n, d))
        x[:, 0] += (2.5 if k == signal else 0.4) * z
        layers.append((x * rng.uniform(0.5, 2.0, size=d) + rng.normal(size=d)).astype(np.float32))
    y = z + 0.4 * rng.normal(size=n)
    metric = "mae"
    if task_type == "classification":
        y, metric = (y > 0).astype(float), "roc-auc"
    smiles = scaffold_smiles(n)
    perm = rng.permutation(n)  # scaffold groups spread over train / valid / test
    smiles = [smiles[i] for i in perm]
    emb = LayerEmbeddings(layers=tuple(layers), valid=np.ones(n, bool), smiles=tuple(smiles), encoder="toy")
    frame = pd.DataFrame({"Drug_ID": [f"id{i}" for i in range(n)], "Drug": smiles, "Y": y})
    parts = np.split(np.arange(n), [n_train, n_train + n_valid])
    split = TaskSplit(name="toy", train=frame.iloc[parts[0]].reset_index(drop=True),
                      valid=frame.iloc[parts[1]].reset_index(drop=True),
                      test=frame.iloc[parts[2]].reset_index(drop=True),
                      metric=metric, task_type=task_type, seed=1)
    return emb, split


def with_test_labels(split: TaskSplit, y: np.ndarray) -> TaskSplit:
    test = split.test.copy()
    test["Y"] = y
    return TaskSplit(name=split.name, train=split.train, valid=split.valid, test=test, metric=split.metric,
                     task_type=split.task_type, seed=split.seed)


# ------------------------------------------------------------------------------ folds
def test_folds_are_scaffold_disjoint_balanced_and_seeded():
    smiles = scaffold_smiles(300)
    rng = np.random.default_rng(3)
    smiles = [smiles[i] for i in rng.permutation(len(smiles))]
    groups = scaffold_group_ids(smiles)
    scaffolds = [murcko(s) for s in smiles]  # independent: RDKit directly
    # same id <=> same scaffold
    by_id: dict[int, set[str]] = {}
    for g, sc in zip(groups, scaffolds, strict=True):
        by_id.setdefault(int(g), set()).add(sc)
    assert all(len(v) == 1 for v in by_id.values())
    assert len(by_id) == len(set(scaffolds))
    folds = scaffold_folds(groups, 5, seed=1)
    assert set(folds.tolist()) == set(range(5))
    for sc in set(scaffolds):  # every scaffold in exactly one fold
        assert len({int(f) for f, s in zip(folds, scaffolds, strict=True) if s == sc}) == 1
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= np.bincount(groups).max()
    np.testing.assert_array_equal(folds, scaffold_folds(groups, 5, seed=1))  # same seed, same folds
    assert not np.array_equal(folds, scaffold_folds(groups, 5, seed=2))  # other seed, other folds
    # the ids do not depend on the order of the molecules
    rev = scaffold_group_ids(smiles[::-1])[::-1]
    np.testing.assert_array_equal(rev, groups)


def test_folds_refuse_too_few_groups_or_folds():
    with pytest.raises(ConfigError, match="scaffold group"):
        scaffold_folds(np.array([0, 0, 1, 1, 2]), 5, seed=1)
    with pytest.raises(ConfigError, match=">= 3"):
        scaffold_folds(np.arange(10), 2, seed=1)


# ------------------------------------------------------------------------- nested CV
def _reference_cv(X, y, folds, k, grid, classification):
    """The documented procedure, written independently with scikit-learn."""
    n_layers = len(X)
    est = {f: [[] for _ in range(n_layers)] for f in range(k)}
    for i in range(k):
        a, b = i, (i + 1) % k
        tr = ~np.isin(folds, [a, b])
        for j, x in enumerate(X):
            pa, pb = [], []
            for g in grid:
                model = LogisticRegression(C=g, max_iter=10000, tol=1e-10) if classification else Ridge(alpha=g)
                pipe = make_pipeline(StandardScaler(), model).fit(x[tr], y[tr])
                for f, store in ((a, pa), (b, pb)):
                    store.append(pipe.predict_proba(x[folds == f])[:, 1] if classification
                                 else pipe.predict(x[folds == f]))
            score = roc_auc_score if classification else mean_absolute_error
            sa = np.array([score(y[folds == a], p) for p in pa])
            sb = np.array([score(y[folds == b], p) for p in pb])
            pick = np.argmax if classification else np.argmin
            est[a][j].append(sa[pick(sb)])
            est[b][j].append(sb[pick(sa)])
    return np.array([[np.mean(est[f][j]) for j in range(n_layers)] for f in range(k)])


def test_ridge_cv_matches_an_independent_scikit_learn_computation():
    emb, split = toy()
    X = [np.asarray(x[:300], dtype=np.float64) for x in emb.layers]
    # a layer wider than the training part of a pair (150 rows): the Gram route
    X.append(np.random.default_rng(1).normal(size=(300, 200)) + X[2][:, :1])
    y = split.train["Y"].tolist() + split.valid["Y"].tolist()
    y = np.asarray(y)
    folds = scaffold_folds(scaffold_group_ids(list(emb.smiles[:300])), 4, seed=7)
    alphas = [0.1, 3.0, 100.0, 3000.0]
    res = cross_validate(X, y, folds, task_type="regression", metric="mae", params={"alphas": alphas})
    ref = _reference_cv(X, y, folds, 4, alphas, classification=False)
    np.testing.assert_allclose(res.fold_scores, ref, rtol=1e-8, atol=1e-10)
    assert res.oof.shape == (300, len(X)) and np.isfinite(res.oof).all()


def test_logistic_cv_matches_scikit_learn():
    emb, split = toy("classification")
    y = np.concatenate([split.y("train"), split.y("valid")])
    X = [np.asarray(x[:300], dtype=np.float64) for x in emb.layers[:3]]
    folds = scaffold_folds(scaffold_group_ids(list(emb.smiles[:300])), 4, seed=2)
    Cs = [0.001, 0.1, 10.0]
    res = cross_validate(X, y, folds, task_type="classification", metric="roc-auc",
                         params={"Cs": Cs, "tol": 1e-9})
    ref = _reference_cv(X, y, folds, 4, Cs, classification=True)
    np.testing.assert_allclose(res.fold_scores, ref, atol=2e-3)


def test_cv_never_tunes_on_the_fold_it_scores():
    """A fold's out-of-fold predictions come from probes fit on other folds and tuned on
    its neighbours: shuffling that fold's labels leaves them unchanged (nested)."""
    emb, split = toy()
    X = [np.asarray(x[:300], dtype=np.float64) for x in emb.layers]
    y = np.concatenate([split.y("train"), split.y("valid")])
    folds = scaffold_folds(scaffold_group_ids(list(emb.smiles[:300])), 5, seed=1)
    base = cross_validate(X, y, folds, task_type="regression", metric="mae")
    y2 = y.copy()
    y2[folds == 2] = np.random.default_rng(0).permutation(y2[folds == 2])  # same values, shuffled
    moved = cross_validate(X, y2, folds, task_type="regression", metric="mae")
    # fold 2's predictions come from fits on other folds, tuned on folds 1 or 3: unchanged
    np.testing.assert_allclose(moved.oof[folds == 2], base.oof[folds == 2], rtol=1e-10)


# ---------------------------------------------------------------------------- rules
def test_select_cv_best_mean_ties_shallowest_nan_skipped():
    s = np.array([[0.50, 0.40, 0.45], [0.52, 0.38, 0.50], [np.nan, np.nan, 0.30]])
    assert select_cv(s, "mae") == 1  # fold 2 is NaN for layers 0, 1: means 0.51, 0.39, 0.417
    assert select_cv(np.array([[0.7, 0.8, 0.8], [0.7, 0.8, 0.8]]), "roc-auc") == 1


def test_cv_1se_keeps_the_final_layer_on_ties_and_noise():
    assert select_cv_1se(np.full((5, 7), 0.42), "mae") == 6
    assert select_cv_1se(np.full((5, 7), 0.8), "roc-auc") == 6
    rng = np.random.default_rng(0)
    final = rng.uniform(0.6, 0.8, size=5)
    # layer 1 better by +0.02 on every fold (paired SE 0): chosen
    s = np.stack([final - 0.05, final + 0.02, final], axis=1)
    assert select_cv_1se(s, "roc-auc") == 1
    # layer 1 better on average by less than one SE of the paired differences: final kept
    d = np.array([0.05, -0.04, 0.03, -0.03, 0.01])  # mean 0.004, SE ~0.017
    s = np.stack([final - 0.05, final + d, final], axis=1)
    assert select_cv_1se(s, "roc-auc") == 2
    # mae: lower is better; layer 0 lower by 0.1 everywhere
    s = np.stack([final - 0.1, final], axis=1)
    assert select_cv_1se(s, "mae") == 0
    # several layers beat it: the best mean wins
    s = np.stack([final + 0.01, final + 0.03, final], axis=1)
    assert select_cv_1se(s, "spearman") == 1


def test_parse_selection():
    assert parse_selection("all").names == SELECTIONS
    assert parse_selection("valid-best").names == ("valid",)
    assert parse_selection("cv, cv-1se,cv").names == ("cv", "cv-1se")
    assert primary_selection(["cv", "mix"]) == ("cv" if DEFAULT_SELECTION not in ("cv", "mix") else DEFAULT_SELECTION)
    assert primary_selection(list(SELECTIONS)) == DEFAULT_SELECTION
    with pytest.raises(ConfigError, match="--selection"):
        parse_selection("test-best")
    assert select_layer(np.array([0.3, 0.2]), "mae", strategy="valid") == 1


# ------------------------------------------------------------------- combinations
def test_ensemble_weights_rule():
    fs = np.array([[0.70, 0.80, 0.79], [0.72, 0.82, 0.81]])
    w0 = temperature_weights(fs, "roc-auc", 0.0)
    np.testing.assert_array_equal(w0, [0, 1, 0])
    winf = temperature_weights(fs, "roc-auc", float("inf"))
    np.testing.assert_allclose(winf, [1 / 3] * 3)
    w1 = temperature_weights(fs, "roc-auc", 1.0)
    g = 100 * (fs.mean(0) - 0.81) / 0.81  # independent: relative gaps in %
    np.testing.assert_allclose(w1, np.exp(g) / np.exp(g).sum())
    assert top_layers(fs, "roc-auc", 2) == [1, 2]
    assert top_layers(fs, "mae", 2) == [0, 2]


def test_ensemble_of_one_layer_is_that_layers_probe():
    emb, split = toy(dims=(8,), signal=0)
    data = prepare(emb, split)
    cells = fit_layers(data, model="linear", task_type="regression", metric="mae", seed=1)
    got = choose(data, cells, selections=["ensemble", "cv", "cv-1se"], task_type="regression", metric="mae", seed=1)
    direct = LinearProbe().fit(data.train, data.y_train, data.valid, data.y_valid).predict(data.test)[0]
    np.testing.assert_allclose(got["ensemble"].test_pred, direct, rtol=1e-10)
    np.testing.assert_array_equal(got["ensemble"].weights, [1.0])
    assert got["cv"].layer == 0 and got["cv-1se"].layer == 0


def test_ensemble_temperature_is_chosen_on_out_of_fold_predictions():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    folds = np.arange(200) % 4
    good = y + 0.3 * rng.normal(size=200)
    oof = np.stack([good, good + 0.3 * rng.normal(size=200), rng.normal(size=200)], axis=1)
    fs = np.array([[mean_absolute_error(y[folds == f], oof[folds == f, j]) for j in range(3)] for f in range(4)])
    w, tau = ensemble_weights(fs, oof, y, folds, "mae")
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    # the pure-noise layer gets (almost) nothing and the chosen temperature is the best on the CV
    assert w[2] < 0.05
    best = min((np.mean([mean_absolute_error(y[folds == f], (oof @ temperature_weights(fs, "mae", t))[folds == f])
                         for f in range(4)]), t) for t in (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, float("inf")))
    assert tau == best[1]


def test_mix_of_one_layer_is_the_linear_probe():
    emb, split = toy(dims=(8,), signal=0)
    data = prepare(emb, split)
    mix = MixProbe().fit(data.train, data.y_train, data.valid, data.y_valid)
    direct = LinearProbe().fit(data.train, data.y_train, data.valid, data.y_valid).predict(data.test)[0]
    np.testing.assert_allclose(mix.predict(data.test), direct, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(mix.weights_, [1.0])


@pytest.mark.parametrize("task_type", ["regression", "classification"])
def test_mix_puts_its_weight_on_the_informative_layer(task_type):
    emb, split = toy(task_type, dims=(8, 8, 8, 8), signal=1)
    data = prepare(emb, split)
    mix = MixProbe(task_type=task_type).fit(data.train, data.y_train, data.valid, data.y_valid)
    assert (mix.weights_ >= 0).all() and mix.weights_.sum() == pytest.approx(1.0)
    assert int(np.argmax(mix.weights_)) == 1 and mix.weights_[1] > 0.5
    assert mix_layers([4, 8, 8, 16, 8]) == [1, 2, 4]
    assert mix_layers([4, 4, 8, 8]) == [2, 3]  # ties: the deepest width


# ---------------------------------------------------------------- no test labels
@pytest.mark.parametrize("task_type", ["regression", "classification"])
def test_no_strategy_can_see_test_labels(task_type):
    emb, split = toy(task_type, n_train=160, n_valid=50, n_test=60, dims=(6, 8, 8, 8))
    n_test = len(split.test)
    rng = np.random.default_rng(5)
    poisoned = {
        "shuffled": with_test_labels(split, rng.permutation(split.y("test"))),
        "garbage": with_test_labels(split, rng.normal(100.0, 50.0, size=n_test)),
        "nan": with_test_labels(split, np.full(n_test, np.nan)),
    }

    def choices(sp):
        data = prepare(emb, sp)
        cells = fit_layers(data, model="linear", task_type=sp.task_type, metric=sp.metric, seed=1)
        return choose(data, cells, selections="all", task_type=sp.task_type, metric=sp.metric, seed=1)

    clean = choices(split)
    assert list(clean) == list(SELECTIONS)
    for name, sp in poisoned.items():
        got = choices(sp)
        for strategy, c in clean.items():
            assert got[strategy].label == c.label, (name, strategy)
            np.testing.assert_array_equal(got[strategy].weights, c.weights, err_msg=f"{name} {strategy}")
            np.testing.assert_array_equal(got[strategy].test_pred, c.test_pred, err_msg=f"{name} {strategy}")
    # and through scoring: the choices are those above; only the test scores move
    _, ref = select_and_score(*_cells(emb, split), split, encoder="toy", model="linear", selections="all")
    _, shuf = select_and_score(*_cells(emb, poisoned["shuffled"]), poisoned["shuffled"], encoder="toy",
                               model="linear", selections="all")
    assert [r.label for r in ref] == [r.label for r in shuf] == [c.label for c in clean.values()]
    assert any(a.test_score != b.test_score for a, b in zip(ref, shuf, strict=True))


def _cells(emb, split):
    data = prepare(emb, split)
    return fit_layers(data, model="linear", task_type=split.task_type, metric=split.metric, seed=1), data


def test_cv_strategies_find_the_signal_layer():
    emb, split = toy(dims=(6, 8, 8, 8, 8), signal=2)
    data = prepare(emb, split)
    cells = fit_layers(data, model="linear", task_type="regression", metric="mae", seed=1)
    got = choose(data, cells, selections="all", task_type="regression", metric="mae", seed=1)
    assert got["cv"].layer == 2 and got["cv-1se"].layer == 2
    assert 2 in got["concat"].info["layers"]
    assert int(np.argmax(got["ensemble"].weights)) == 2
    assert int(np.argmax(got["mix"].weights)) == 2
    for c in got.values():
        assert c.test_pred.shape == (len(split.test),) and np.isfinite(c.test_pred).all()
        assert c.weights.sum() == pytest.approx(1.0)


def test_classification_cv_probe_setting(monkeypatch):
    import molstrata.probe.cv as cv_mod

    emb, split = toy("classification", n_train=160, n_valid=50, n_test=60, dims=(6, 8, 8), signal=1)
    data = prepare(emb, split)
    cells = fit_layers(data, model="linear", task_type="classification", metric="roc-auc", seed=1)
    ridge = choose(data, cells, selections=["cv"], task_type="classification", metric="roc-auc", seed=1)
    assert cv_mod.CLASSIFICATION_CV_PROBE == "ridge" and ridge["cv"].info["cv_probe"] == "ridge"
    monkeypatch.setattr(cv_mod, "CLASSIFICATION_CV_PROBE", "logistic")
    logistic = choose(data, cells, selections=["cv"], task_type="classification", metric="roc-auc", seed=1)
    assert logistic["cv"].info["cv_probe"] == "logistic"
    assert ridge["cv"].layer == logistic["cv"].layer == 1
    assert ridge["cv"].info["cv_mean"] != logistic["cv"].info["cv_mean"]


def test_probe_function_takes_every_strategy():
    from molstrata.probe import probe

    emb, split = toy(dims=(6, 8, 8), signal=1)
    valid = probe(emb, split, strategy="valid-best")
    ens = probe(emb, split, strategy="ensemble")
    assert valid.strategy == "valid" and ens.strategy == "ensemble"
    default = probe(emb, split)  # the API's default is the CLI's: ensemble
    assert default.strategy == "ensemble" and default.selected_test_score == ens.selected_test_score
    assert ens.selection_label.startswith("ens")
    np.testing.assert_allclose(ens.test_scores, valid.test_scores)  # the same per-layer probes
    assert ens.selected_test_score == pytest.approx(mean_absolute_error(split.y("test"), ens.test_pred))
    assert probe(emb, split, strategy="cv").selected_layer == 1
