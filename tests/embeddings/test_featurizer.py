"""``LayerFeaturizer`` (issue 19, item 4): a layer of the built-in ``default`` encoder as a
scikit-learn transformer, searched over with ``GridSearchCV`` inside a ``Pipeline``."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from molstrata.core.errors import ConfigError, InvalidSmilesError


@pytest.fixture(scope="module")
def small_task(data_dir):
    from molstrata.data import load_task

    split = load_task("caco2_wang", seed=1, data_dir=data_dir)
    return split.smiles("train")[:48], split.y("train")[:48]


def test_grid_search_over_layers(small_task):
    from molstrata import LayerFeaturizer

    smiles, y = small_task
    pipe = Pipeline([("layer", LayerFeaturizer("default")), ("scale", StandardScaler()),
                     ("ridge", Ridge(alpha=10.0))])
    grid = {"layer__layers": [0, -1, [1, 2], "all"]}
    search = GridSearchCV(pipe, grid, cv=KFold(3), scoring="neg_mean_absolute_error").fit(smiles, y)
    assert search.best_params_["layer__layers"] in grid["layer__layers"]
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (4,) and np.isfinite(scores).all() and len(set(scores.round(10))) > 1
    assert search.predict(smiles[:5]).shape == (5,)


def test_layers_and_feature_names(small_task):
    from molstrata import LayerFeaturizer, load_encoder

    smiles, _ = small_task
    emb = load_encoder("default").embed(smiles[:6])
    last = LayerFeaturizer("default", layers=-1).fit(smiles[:6])
    np.testing.assert_allclose(last.transform(smiles[:6]), emb.layers[-1], rtol=1e-5, atol=1e-6)
    both = LayerFeaturizer("default", layers=[2, 0]).fit(smiles[:6])
    out = both.transform(smiles[:6])
    assert out.shape == (6, emb.layers[2].shape[1] + emb.layers[0].shape[1])
    names = both.get_feature_names_out()
    assert names.shape == (out.shape[1],) and names[0] == "layer2_0" and names[-1].startswith("layer0_")
    every = LayerFeaturizer("default", layers="all").fit(smiles[:6])
    assert every.transform(smiles[:6]).shape[1] == sum(x.shape[1] for x in emb.layers)
    twin = clone(both)
    assert twin.get_params() == both.get_params() and not hasattr(twin, "layers_")
    with pytest.raises(ConfigError, match="out of range"):
        LayerFeaturizer("default", layers=99).fit(smiles[:6])
    with pytest.raises(InvalidSmilesError):
        last.transform(["CCO", "not a smiles"])


def test_it_uses_the_embeddings_cache(small_task, monkeypatch):
    import molstrata.embeddings.cache as cache_mod
    from molstrata import LayerFeaturizer

    smiles, _ = small_task
    calls = []
    real = cache_mod.embed_cached
    monkeypatch.setattr(cache_mod, "embed_cached", lambda *a, **k: calls.append(k) or real(*a, **k))
    first = LayerFeaturizer("default", layers=1).fit_transform(smiles[:8])
    again = LayerFeaturizer("default", layers=1).fit_transform(smiles[:8])
    assert calls and all(k["use_cache"] for k in calls)
    np.testing.assert_array_equal(first, again)
    out = real(LayerFeaturizer("default")._encoder(), smiles[:8], progress=False)
    assert out.meta["cache"]["hits"] == 8  # every molecule was cached by the featurizer
