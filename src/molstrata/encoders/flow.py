"""How every encoder is run over many molecules (the flow :class:`Encoder` owns): batches of molecules of one size, one forward pass
per batch, out-of-memory recovery by halving, pooling of every layer, and the input order
restored.

Batching policy (same inputs, same bytes)
-----------------------------------------
A molecule's vector must not depend on what else is asked, so a batch never pads: it holds
molecules of one exact size (:meth:`Encoder._sizes`: tokens for transformers, atoms for
graphs). Padding to a longer partner changes the shapes of every matrix product and with
them the summation order: the built-in SMILES model's vectors moved by up to 1e-6 with their
batch (``benchmarks/embed_determinism.py`` measures it). Within one size, rows of a batch
do not interact and the bytes do not depend on how many rows share the batch, except that a
batch of one row takes other kernels (and is thread-count dependent); a lone molecule is
therefore run twice in one batch of two rows and the copy dropped.

Molecules are sorted by size (stable, so ties keep input order) and each size is cut into
consecutive batches of at most ``batch_size`` molecules, or, without it, of at most
``token_budget // size`` (and :attr:`Encoder.max_batch_size`). On an out-of-memory error the
batch is halved and retried, and every later batch keeps the smaller cap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from molstrata.core.progress import progress
from molstrata.encoders._rows import min_rows
from molstrata.encoders.pooling import Pooling, pool

if TYPE_CHECKING:
    from molstrata.encoders.base import BatchStates, Encoder

#: inputs longer than this show a progress bar by default
PROGRESS_MIN = 2000


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text  # CUDA / MPS / CPU


#: bump when the batching policy changes the bytes of an embedding (part of cache keys);
#: 3: linear layers see at least 4 rows (:func:`molstrata.encoders._rows.min_rows`);
#: 4: at least ``_rows.floor()`` rows (64; 4 left some rows of 5-11-row inputs on other kernels)
BATCHING_VERSION = 4


def batch_order(sizes: np.ndarray, *, sort: bool = True) -> np.ndarray:
    """Positions in processing order: by increasing size (stable) or unchanged.

    Parameters
    ----------
    sizes : ndarray of int, shape (n_molecules,)
    sort : bucket by size (default); ``False`` keeps input order (batches still hold one
        size only, so unsorted input just gives smaller batches)
    """
    sizes = np.asarray(sizes)
    return np.argsort(sizes, kind="stable") if sort else np.arange(len(sizes))


def _take(sizes_in_order: np.ndarray, start: int, cap: int, budget: int | None) -> int:
    """How many molecules from ``start`` go in the next batch: consecutive ones of the same
    size, at most ``cap``, and at most ``budget // size`` when a budget is given."""
    rest = sizes_in_order[start:]
    size = int(rest[0])
    change = np.flatnonzero(rest != size)
    n = min(cap, int(change[0]) if change.size else len(rest))
    if budget is not None:
        n = min(n, budget // max(size, 1))
    return max(n, 1)


def _module_or_none(encoder: Encoder) -> Any:
    """``encoder.module``, or ``None`` where the encoder exposes none (the contract's
    :class:`ConfigError`)."""
    from molstrata.core.errors import ConfigError

    try:
        return encoder.module
    except ConfigError:
        return None


def _forward_alone_safe(encoder: Encoder, strings: list[str]) -> BatchStates:
    """``encoder._forward`` on ``strings``; a single molecule runs as a batch of two copies
    (a one-molecule batch takes other kernels), and the copy is dropped. The linear layers'
    row counts are evened out for every batch by :func:`~molstrata.encoders._rows.min_rows`
    (``iter_batches``); the copies cover the other operations of a one-molecule batch."""
    if len(strings) != 1:
        return encoder._forward(strings)
    states = encoder._forward(strings * 2)
    states.hidden = [h[:1] for h in states.hidden]
    states.mask = states.mask[:1]
    if states.special is not None:
        states.special = states.special[:1]
    if "truncated" in states.info:
        states.info["truncated"] = [j for j in states.info["truncated"] if j < 1]
    return states


def iter_batches(
    encoder: Encoder,
    smiles: Sequence[str],
    *,
    batch_size: int | None = None,
    token_budget: int | None = None,
    sort: bool = True,
    sizes: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, BatchStates]]:
    """Yield ``(rows, states)``: positions in ``smiles`` and the model states of that batch.

    Every molecule is yielded exactly once, in a batch of molecules of its own size (no
    padding). ``_forward`` runs under ``torch.inference_mode``.

    Parameters
    ----------
    encoder : the encoder to run
    smiles : sequence of str, length n_molecules, already validated strings to feed
    batch_size : at most this many molecules per batch; default: token budget
    token_budget : at most this many positions per batch; default
        :attr:`Encoder.token_budget` when ``batch_size`` is not given
    sort : bucket by size (default ``True``)
    sizes : precomputed :meth:`Encoder._sizes`, shape (n_molecules,)
    """
    import torch

    from molstrata.core.errors import ConfigError

    n = len(smiles)
    if n == 0:
        return
    if batch_size is not None and int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if token_budget is not None and int(token_budget) < 1:
        raise ConfigError(f"token_budget must be >= 1, got {token_budget}")
    if sizes is None:
        sizes = np.asarray(encoder._sizes(list(smiles)), dtype=np.int64)
    order = batch_order(sizes, sort=sort)
    sizes_in_order = np.asarray(sizes)[order]
    if batch_size is not None:
        cap, budget = int(batch_size), (int(token_budget) if token_budget else None)
    else:
        cap, budget = int(encoder.max_batch_size), int(token_budget or encoder.token_budget)
    start = 0
    while start < n:
        take = _take(sizes_in_order, start, cap, budget)
        rows = order[start : start + take]
        try:
            with torch.inference_mode(), min_rows(_module_or_none(encoder)):
                states = _forward_alone_safe(encoder, [smiles[i] for i in rows])
        except (RuntimeError, MemoryError) as exc:  # torch.OutOfMemoryError is a RuntimeError
            if _is_oom(exc) and take > 1:
                cap = max(1, take // 2)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            raise
        yield rows, states
        start += take


@contextmanager
def progress_bar(description: str, total: int, show: bool | None) -> Iterator[Callable[[int], None]]:
    """The progress bar (:func:`molstrata.core.progress.progress`, transient) as an
    ``advance(n)`` callback; a no-op when not shown.

    ``show=None`` shows it for more than :data:`PROGRESS_MIN` items.
    """
    shown = show if show is not None else total > PROGRESS_MIN
    with progress(description, total, show=bool(shown), transient=True) as bar:
        yield bar.advance


def embed_canonical(
    encoder: Encoder,
    smiles: Sequence[str],
    *,
    pooling: Pooling | str,
    batch_size: int | None = None,
    token_budget: int | None = None,
    include_special: bool = False,
    progress: bool | None = None,
    sort: bool = True,
    advance: Callable[[int], None] | None = None,
    sizes: np.ndarray | None = None,
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Pooled embeddings of every layer for already-validated ``smiles``.

    The strings are fed to the model as given (the caller decides whether they are
    canonical). Batches follow :func:`iter_batches`; results go back to input positions.

    Parameters
    ----------
    encoder : the encoder to run
    smiles : sequence of str, length n_molecules
    pooling : a :class:`Pooling`
    batch_size, token_budget, sort, sizes : see :func:`iter_batches`
    include_special : pool special tokens too (mean/max/sum)
    progress : show a progress bar (default: more than 2,000 molecules)
    advance : callback receiving the number of molecules done after each batch (used by
        callers that own the progress bar; ``progress`` is then ignored)

    Returns
    -------
    layers : list of ndarray, n_layers arrays of shape (n_molecules, dim_k), float32
    info : dict with ``truncated_rows``, positions in ``smiles`` of inputs the encoder
        reported as cut (e.g. by a maximum length)
    """
    import torch

    pooling = Pooling.parse(pooling)
    n = len(smiles)
    out: list[np.ndarray] | None = None
    truncated: list[int] = []

    def run(step: Callable[[int], None]) -> None:
        nonlocal out
        for rows, states in iter_batches(
            encoder, smiles, batch_size=batch_size, token_budget=token_budget, sort=sort,
            sizes=sizes,
        ):
            with torch.inference_mode():
                pooled = pool_states(states, pooling, include_special=include_special)
            if out is None:
                out = [np.empty((n, p.shape[1]), dtype=np.float32) for p in pooled]
            for k, p in enumerate(pooled):
                out[k][rows] = p
            truncated.extend(int(rows[j]) for j in states.info.get("truncated", []))
            step(len(rows))

    if advance is not None:
        run(advance)
    else:
        with progress_bar(f"embedding with {encoder.name}", n, progress) as step:
            run(step)
    if out is None:  # no molecules
        out = [np.empty((0, d), dtype=np.float32) for d in layer_dims(encoder)]
    return out, {"truncated_rows": sorted(truncated)}


def pool_states(
    states: BatchStates, pooling: Pooling | str, *, include_special: bool = False
) -> list[np.ndarray]:
    """Pool every layer of one batch: a list of (B, dim_k) float32 arrays."""
    mask = states.mask
    if include_special and states.special is not None:
        mask = mask | states.special
    return [
        pool(h, mask, pooling, states.cls_index).float().cpu().numpy() for h in states.hidden
    ]


def layer_dims(encoder: Encoder) -> list[int]:
    """Dimension of every layer output, found by running one small molecule."""
    import torch

    with torch.inference_mode():
        states = encoder._forward(["C"])
    return [int(h.shape[-1]) for h in states.hidden]
