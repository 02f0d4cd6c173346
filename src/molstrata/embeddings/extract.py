"""Kept import path: the batching flow lives in :mod:`molstrata.encoders.flow` (encoders own
how they are run; ``embeddings`` adds the cache on top and imports it from there)."""

from molstrata.encoders.flow import (
    BATCHING_VERSION,
    PROGRESS_MIN,
    batch_order,
    embed_canonical,
    iter_batches,
    layer_dims,
    pool_states,
    progress_bar,
)

__all__ = [
    "BATCHING_VERSION",
    "PROGRESS_MIN",
    "batch_order",
    "embed_canonical",
    "iter_batches",
    "layer_dims",
    "pool_states",
    "progress_bar",
]
