"""The on-disk embeddings cache: a sweep never computes a molecule twice.

Layout (under ``MOLSTRATA_CACHE_DIR``, default the platformdirs user cache)::

    embeddings/<setting digest>/          one folder per encoder setting (CacheKey minus SMILES)
        setting.json                      the CacheKey fields, for humans
        chunks/<chunk digest>/            up to ``chunk_size`` molecules, written atomically
            smiles.json                   the strings fed to the model, one per row
            layer_000.npy ... layer_LLL.npy   (n_rows, dim_k) float32
            meta.json                     dims, truncated rows, sha256 of every file above
        views/<request digest>/           large assembled results (same file format)

Writes go to a temporary folder renamed into place, so a chunk either exists whole or not
at all. Every read checks every file against its recorded sha256; a corrupted chunk is
deleted, reported and recomputed. A file is hashed in full once, then trusted while its size,
mtime and inode stay those of that check (``verified.json`` in its folder; see :mod:`molstrata.embeddings.verify`
for the trade-off); ``MOLSTRATA_CACHE_VERIFY=full`` or :func:`verify_cache` hash everything. Chunks are cut from the missing molecules sorted by size (stable), so a run
killed at any point and rerun computes the same chunks, batched the same way, and is
bit-identical to an uninterrupted run (on a device without out-of-memory halving).

Reads are memory-mapped. Results up to :data:`MAX_IN_MEMORY` bytes are gathered into RAM;
larger ones are assembled into a view file and returned as read-only memmaps, so a
100k x 13 x 768 float32 set never sits in RAM twice.
"""


from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from molstrata.core.embeddings import LayerEmbeddings
from molstrata.core.paths import cache_dir as _default_cache_dir
from molstrata.core.paths import cache_enabled
from molstrata.embeddings.store import (
    FORMAT_VERSION,
    STALE_TMP_S,
    CacheKey,
    EmbeddingCache,
    _Chunk,
    _dims,
    _discard,
    _gather,
    _view,
)
from molstrata.encoders.flow import embed_canonical, progress_bar
from molstrata.encoders.prelude import plan_embedding

if TYPE_CHECKING:
    from molstrata.encoders.base import Encoder

__all__ = [
    "CHUNK_SIZE", "FORMAT_VERSION", "MAX_IN_MEMORY", "STALE_TMP_S", "CacheKey", "EmbeddingCache",
    "embed_cached", "embed_chunk", "verify_cache",
]

#: molecules per chunk (the unit of atomic writes and of resuming)
CHUNK_SIZE = 2048
#: results larger than this (bytes) are returned as memmaps of an assembled view file
MAX_IN_MEMORY = 2 * 1024**3


def embed_cached(
    encoder: Encoder,
    smiles: Sequence[str],
    *,
    pooling: str | None = None,
    on_invalid: str = "raise",
    batch_size: int | None = None,
    progress: bool | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    include_special: bool = False,
    canonicalize: bool = True,
    token_budget: int | None = None,
    chunk_size: int | None = None,
    executor: Any = None,
) -> LayerEmbeddings:
    """Embed ``smiles`` with every layer, reading what the cache has and computing the rest.

    Parameters
    ----------
    encoder : an :class:`~molstrata.encoders.Encoder`
    smiles : sequence of str, length n_molecules
    pooling : one of ``encoder.poolings``; default ``encoder.default_pooling``
    on_invalid : ``"raise"`` (:class:`InvalidSmilesError` listing rows) or ``"mask"`` (NaN
        rows, ``valid`` False; rows never shift)
    batch_size : molecules per forward pass (default: token budget); see
        :func:`molstrata.encoders.flow.iter_batches`
    progress : show a progress bar; default: more than 2,000 molecules to compute
    cache_dir : cache root; default ``MOLSTRATA_CACHE_DIR`` or the platformdirs user cache
    use_cache : ``False`` computes everything and writes nothing (same as ``encoder.embed``)
    include_special : pool special tokens too (mean/max/sum)
    canonicalize : feed RDKit canonical SMILES (default) or the validated inputs unchanged;
        the cache keys on what is fed
    token_budget : padded positions per batch
    chunk_size : molecules per cache chunk (default :data:`CHUNK_SIZE`)
    executor : a :class:`molstrata.scale.Executor` computing the missing chunks in
        parallel (e.g. Ray workers, one task per chunk; the encoder is shipped once); each
        chunk is written here, as it arrives, in the same format, so any later run reuses
        it. Default ``None``: one chunk after another in this process, as for an executor
        whose ``embeds`` is false (a local pool: one encoder in memory)

    Returns
    -------
    LayerEmbeddings with ``encoder.num_layers + 1`` arrays of shape (n_molecules, dim_k),
    float32, NaN on invalid rows. Arrays may be read-only memmaps (large results).
    ``meta`` adds ``cache`` = {``hits``, ``computed``, ``path``} to what ``embed`` reports.
    """
    from molstrata.core.errors import ConfigError

    if not use_cache or not cache_enabled():
        return encoder.embed(
            smiles, pooling=pooling, batch_size=batch_size, on_invalid=on_invalid,
            include_special=include_special, progress=progress, canonicalize=canonicalize,
            token_budget=token_budget,
        )
    chunk_size = int(chunk_size or CHUNK_SIZE)
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    plan = plan_embedding(  # raises before anything is computed or read
        encoder, smiles, pooling=pooling, on_invalid=on_invalid, canonicalize=canonicalize,
        include_special=include_special, progress=progress,
    )
    fed, idx = plan.fed, plan.rows
    key = CacheKey.for_encoder(encoder, pooling=plan.pooling.value, include_special=include_special)
    cache = EmbeddingCache(Path(cache_dir) if cache_dir else _default_cache_dir(), key)

    where, chunks = cache.index()
    unique = list(dict.fromkeys(fed))
    needed_chunks = sorted({where[s][0] for s in unique if s in where})
    for c in needed_chunks:  # verify what we are about to read; drop what is corrupted
        try:
            chunks[c].verify()
            chunks[c].layers()
        except Exception as exc:  # noqa: BLE001 - any damage: recompute
            _discard(chunks[c].path, f"{type(exc).__name__}: {exc}")
            where = {s: loc for s, loc in where.items() if loc[0] != c}
    missing = [s for s in unique if s not in where]
    hits = len(unique) - len(missing)

    if missing:
        settings = {"encoder": encoder, "pooling": plan.pooling, "batch_size": batch_size,
                    "token_budget": token_budget, "include_special": include_special}
        _compute_missing(cache, missing, plan.sizes(missing), settings, chunk_size=chunk_size,
                         progress=progress, executor=executor)
        where, chunks = cache.index()
        for c in sorted({where[s][0] for s in missing}):
            chunks[c].verify()

    n = plan.n
    dims = _dims(encoder, chunks)
    src = [where[s] for s in fed]
    truncated = set(plan.cut.tolist())
    cut_in_chunk = {c: set(chunks[c].meta.get("truncated", ())) for c in {c for c, _ in src}}
    for row, (c, r) in zip(idx, src, strict=True):
        if r in cut_in_chunk[c]:
            truncated.add(int(row))
    nbytes = n * sum(dims) * 4
    if nbytes <= MAX_IN_MEMORY:
        layers = [np.full((n, d), np.nan, dtype=np.float32) for d in dims]
        _gather(layers, idx, src, chunks)
        view = None
    else:
        layers, view = _view(cache, key, plan.parsed.smiles, fed, idx, src, chunks, dims)
    return plan.result(layers, sorted(truncated), cache={
        "hits": hits, "computed": len(missing), "path": str(cache.path),
        **({"view": str(view)} if view else {}),
    })


def _compute_missing(
    cache: EmbeddingCache, missing: list[str], missing_sizes: np.ndarray, settings: dict[str, Any],
    *, chunk_size: int, progress: bool | None, executor: Any,
) -> None:
    """Embed the ``missing`` strings (sizes: shape (n_missing,)) in chunks of
    ``chunk_size`` cut from them sorted by size (stable), writing each chunk as it arrives."""
    encoder = settings["encoder"]
    order = np.argsort(missing_sizes, kind="stable")
    starts = range(0, len(order), chunk_size)
    parts = [[missing[i] for i in order[start : start + chunk_size]] for start in starts]

    def store(j: int, result: tuple[list[np.ndarray], list[int]]) -> None:
        layers, info_cut = result[0], set(result[1])
        if encoder.max_length is not None:
            sizes = missing_sizes[order[starts[j] : starts[j] + chunk_size]]
            info_cut |= set(np.flatnonzero(sizes > encoder.max_length).tolist())
        cache.write_chunk(parts[j], layers, sorted(info_cut))

    with progress_bar(f"embedding with {encoder.name}", len(missing), progress) as step:
        if executor is None or not getattr(executor, "embeds", True):  # e.g. a local pool
            for j, part in enumerate(parts):
                store(j, embed_chunk(part, **settings, advance=step))
        else:  # chunks computed elsewhere, written here as they arrive
            executor.map(
                embed_chunk, parts, shared=settings, resources={"num_cpus": 1, "num_gpus": 1},
                on_result=lambda j, r: (store(j, r), step(len(parts[j]))), keep=False,
            )


def embed_chunk(
    part: Sequence[str], *, encoder: Encoder, pooling: Any, batch_size: int | None = None,
    token_budget: int | None = None, include_special: bool = False, advance: Any = None,
) -> tuple[list[np.ndarray], list[int]]:
    """Compute one cache chunk (what an executor's worker runs).

    Parameters
    ----------
    part : the chunk's fed strings, length n_rows, in the order they are stored
    encoder, pooling, batch_size, token_budget, include_special : as :func:`embed_cached`
    advance : progress callback ``advance(n_done)``, or ``None``

    Returns
    -------
    layers : n_layers float32 arrays of shape (n_rows, dim_k)
    truncated : rows the encoder reported as cut
    """
    layers, info = embed_canonical(
        encoder, list(part), pooling=pooling, batch_size=batch_size, token_budget=token_budget,
        include_special=include_special, advance=advance or (lambda n: None),
    )
    return layers, [int(r) for r in info["truncated_rows"]]


def verify_cache(cache_dir: str | Path | None = None) -> list[Path]:
    """Hash every file of every chunk and view in the cache (ignoring the stamps of earlier
    checks), remove the damaged folders (with a warning each) and return them.

    Parameters
    ----------
    cache_dir : cache root; default ``MOLSTRATA_CACHE_DIR`` or the platformdirs user cache

    Returns
    -------
    list of Path, the folders found damaged and removed (recomputed by the next run)
    """
    root = Path(cache_dir) if cache_dir else _default_cache_dir()
    damaged = []
    for folder in sorted(root.glob("embeddings/*/chunks/*")) + sorted(root.glob("embeddings/*/views/*")):
        if folder.name.startswith("."):
            continue
        try:
            _Chunk.read(folder).verify(full=True)
        except Exception as exc:  # noqa: BLE001 - any damage: remove, the next run recomputes
            _discard(folder, f"{type(exc).__name__}: {exc}")
            damaged.append(folder)
    return damaged
