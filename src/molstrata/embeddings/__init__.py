"""Embeddings: every layer of an encoder over many molecules, batched and cached.

``embed_cached`` is the entry point of later stages (analysis, probes): it returns a
:class:`~molstrata.core.embeddings.LayerEmbeddings` and never computes a molecule twice.
"""

from molstrata.embeddings.cache import CacheKey, EmbeddingCache, embed_cached, verify_cache
from molstrata.embeddings.io import read_embeddings, write_embeddings
from molstrata.encoders.flow import embed_canonical, iter_batches

__all__ = [
    "CacheKey",
    "EmbeddingCache",
    "embed_cached",
    "embed_canonical",
    "iter_batches",
    "read_embeddings",
    "verify_cache",
    "write_embeddings",
]
