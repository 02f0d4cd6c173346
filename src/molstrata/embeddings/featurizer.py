"""``LayerFeaturizer``: layer k of an encoder as a scikit-learn transformer (SMILES -> features).

It goes in a ``Pipeline`` like any featurizer, and ``layers`` is a hyperparameter that
``GridSearchCV`` can search::

    Pipeline([("layer", LayerFeaturizer("default", layers=-1)), ("scale", StandardScaler()),
              ("ridge", Ridge())])

Embeddings come from the embeddings cache (:func:`~molstrata.embeddings.cache.embed_cached`):
every layer of a molecule is computed once, whatever layer a later fit asks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from molstrata.core.errors import ConfigError, NotFittedError


@lru_cache(maxsize=4)
def _load(name: str, device: str | None) -> Any:
    """A registered encoder or model folder, loaded once per process (clones share it)."""
    from molstrata.encoders import load_encoder

    return load_encoder(name, device=device)


def _layer_indices(layers: Any, n_layers: int) -> list[int]:
    """``layers`` (an int, negative from the end, a list of them, or ``"all"``) as indices
    0..n_layers-1; a bad value is a ConfigError naming the valid range."""
    if isinstance(layers, str):
        if layers != "all":
            raise ConfigError(f"layers={layers!r}: give an int, a list of ints or 'all'")
        return list(range(n_layers))
    items = [layers] if isinstance(layers, int | np.integer) else list(layers)
    if not items:
        raise ConfigError("layers=[]: give at least one layer")
    out = []
    for k in items:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not -n_layers <= k < n_layers:
            raise ConfigError(f"layer {k!r} is out of range: the encoder has layers 0..{n_layers - 1} "
                              f"(or -{n_layers}..-1 from the end)")
        out.append(int(k) % n_layers)
    return out


class LayerFeaturizer(TransformerMixin, BaseEstimator):
    """SMILES -> the embeddings of chosen layers of an encoder, concatenated.

    Parameters
    ----------
    encoder : a registered name (``molstrata encoders``), a model folder, or an
        :class:`~molstrata.encoders.Encoder`
    layers : int (negative counts from the end: -1 is the last layer), list of ints
        (concatenated in that order) or ``"all"``; layer 0 is the input embeddings
    pooling : the encoder's pooling (default: the encoder's own)
    cache : read and write the embeddings cache (``MOLSTRATA_CACHE_DIR``)
    device : where the encoder runs (default: CUDA when available)

    Attributes
    ----------
    n_layers_ : int, the encoder's layers (blocks + 1)
    layers_ : list of int, the layers used
    dims_ : list of int (n_layers_,), each layer's width
    n_features_out_ : int, sum of the used layers' widths

    Examples
    --------
    >>> feat = LayerFeaturizer("default", layers=[1, -1])  # doctest: +SKIP
    >>> feat.fit_transform(["CCO", "c1ccccc1"]).shape  # doctest: +SKIP
    (2, 512)
    """

    def __init__(self, encoder: Any = "default", layers: int | Sequence[int] | str = -1,
                 pooling: str | None = None, cache: bool = True, device: str | None = None):
        self.encoder = encoder
        self.layers = layers
        self.pooling = pooling
        self.cache = cache
        self.device = device

    def _encoder(self) -> Any:
        return _load(self.encoder, self.device) if isinstance(self.encoder, str) else self.encoder

    def _embed(self, X: Any) -> Any:
        from molstrata.embeddings.cache import embed_cached

        if isinstance(X, str) or isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] != 1:
            raise ConfigError("LayerFeaturizer takes a sequence of SMILES strings (one column), "
                              f"got {type(X).__name__}{getattr(X, 'shape', '')}")
        smiles = [str(s) for s in np.asarray(X, dtype=object).reshape(-1)]
        return embed_cached(self._encoder(), smiles, pooling=self.pooling, use_cache=self.cache,
                            progress=False)

    def fit(self, X: Sequence[str], y: Any = None) -> LayerFeaturizer:
        """Embed ``X`` (n SMILES: fills the cache) and fix the layers used."""
        emb = self._embed(X)
        self.n_layers_ = len(emb.layers)
        self.dims_ = [int(x.shape[1]) for x in emb.layers]
        self.layers_ = _layer_indices(self.layers, self.n_layers_)
        self.n_features_out_ = sum(self.dims_[k] for k in self.layers_)
        return self

    def transform(self, X: Sequence[str]) -> np.ndarray:
        """The chosen layers of each molecule, concatenated: ndarray (n, n_features_out_)
        float32. An invalid SMILES raises (listing the rows)."""
        if not hasattr(self, "layers_"):
            raise NotFittedError("LayerFeaturizer is not fitted; call fit first")
        emb = self._embed(X)
        return np.concatenate([np.asarray(emb.layers[k], dtype=np.float32) for k in self.layers_], axis=1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``layer<k>_<j>`` for the j-th dimension of layer k, in output order: (n_features_out_,)."""
        if not hasattr(self, "layers_"):
            raise NotFittedError("LayerFeaturizer is not fitted; call fit first")
        return np.asarray([f"layer{k}_{j}" for k in self.layers_ for j in range(self.dims_[k])], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags
