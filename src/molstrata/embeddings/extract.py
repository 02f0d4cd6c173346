"""Run an encoder over many molecules: size-bucketed batches, one forward per batch,
pooling of every layer, and the input order restored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from molstrata.encoders.pooling import Pooling, pool

if TYPE_CHECKING:
    from molstrata.encoders.base import Encoder


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def embed_canonical(
    encoder: Encoder,
    smiles: list[str],
    *,
    pooling: Pooling,
    batch_size: int | None = None,
    include_special: bool = False,
    progress: bool | None = None,
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Pooled embeddings of every layer for valid canonical ``smiles``.

    Molecules are sorted by :meth:`Encoder._size` so each batch holds similar lengths
    (little padding), run once each, and written back to their input positions.

    Returns
    -------
    layers : list of ndarray, n_layers + 1 arrays of shape (len(smiles), dim_k), float32
    info : dict with ``n_truncated`` (inputs cut by the encoder's max length) and
        ``truncated_rows`` (their positions in ``smiles``)
    """
    import torch

    n = len(smiles)
    batch_size = int(batch_size or encoder.default_batch_size)
    order = np.argsort([encoder._size(s) for s in smiles], kind="stable")
    out: list[np.ndarray] | None = None
    truncated: list[int] = []
    show = progress if progress is not None else n > 2000
    bar = None
    if show:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task(f"embedding with {encoder.name}", total=n)
    try:
        start = 0
        with torch.inference_mode():
            while start < n:
                rows = order[start : start + batch_size]
                batch = [smiles[i] for i in rows]
                try:
                    states = encoder._forward(batch)
                except RuntimeError as exc:  # recover from OOM by halving the batch
                    if _is_oom(exc) and batch_size > 1:
                        batch_size = max(1, batch_size // 2)
                        if torch.cuda.is_available():
                            torch.cuda.empty_cache()
                        continue
                    raise
                mask = states.mask
                if include_special and states.special is not None:
                    mask = mask | states.special
                pooled = [
                    pool(h, mask, pooling, states.cls_index).float().cpu().numpy()
                    for h in states.hidden
                ]
                if out is None:
                    out = [np.empty((n, p.shape[1]), dtype=np.float32) for p in pooled]
                for k, p in enumerate(pooled):
                    out[k][rows] = p
                for j in states.info.get("truncated", []):
                    truncated.append(int(rows[j]))
                start += len(rows)
                if bar is not None:
                    bar.update(task, advance=len(rows))
    finally:
        if bar is not None:
            bar.stop()
    if out is None:  # no molecules: ask the encoder for its dims on an empty result
        out = [np.empty((0, d), dtype=np.float32) for d in _dims(encoder)]
    return out, {"n_truncated": len(truncated), "truncated_rows": sorted(truncated)}


def _dims(encoder: Encoder) -> list[int]:
    """Layer dims, found by embedding one small molecule."""
    import torch

    with torch.inference_mode():
        states = encoder._forward(["C"])
    return [int(h.shape[-1]) for h in states.hidden]
