"""Linear layers that see at least :func:`floor` rows while embedding.

A CPU matrix product takes other kernels, with another summation order, when its input has
few rows, so a molecule's embedding would depend on its batch. On this machine's MKL (2
cores) a row's bits differ from those it gets in a large batch when the input has 1-3 rows
(any thread count), and also, with 2 threads, at some positions of inputs of 5-11 rows:
``[Li+]`` (one atom) embedded alone differed from ``[Li+]`` in a batch of small molecules,
and a batch of four or more two-atom molecules changed the bits of some of them. While
embedding, :func:`min_rows` pads the input of every linear layer of the encoder's module to
at least :func:`floor` rows (:data:`MIN_ROWS`, more with many threads) with zeros and drops
the padded rows from the output, so every row goes through the kernels of a large batch
whatever its own batch holds. Rows never mix in a linear layer, so the real rows' values are
those of a batch with more rows. Measured here for inputs of 1-199 rows at 1, 2 and 4
threads (``tests/encoders/test_min_rows.py``); the per-thread term is a margin for machines
with many more cores (where MKL may split a product of some dozens of rows into blocks too
small for its large-batch kernels), not a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: fewest rows a linear layer's input has while embedding (padded with zeros up to it)
MIN_ROWS = 64
#: with many threads, at least this many rows per thread (a product of few rows is split
#: across threads in blocks too small for the large-batch kernels)
ROWS_PER_THREAD = 8


def floor() -> int:
    """Rows every linear layer's input is padded to while embedding: ``max(MIN_ROWS,
    ROWS_PER_THREAD * torch.get_num_threads())``."""
    import torch

    return max(MIN_ROWS, ROWS_PER_THREAD * torch.get_num_threads())


def _is_linear(module: Any) -> bool:
    """``torch.nn.Linear`` and look-alikes (torch_geometric's ``Linear``): a class named
    ``Linear`` with a 2-D ``weight``."""
    weight = getattr(module, "weight", None)
    return type(module).__name__ == "Linear" and getattr(weight, "ndim", 0) == 2


@contextmanager
def min_rows(module: Any, rows: int | None = None) -> Iterator[None]:
    """Inside the block, every linear layer of ``module`` (a ``torch.nn.Module``; ``None``:
    nothing) gets at least ``rows`` input rows (default :func:`floor`): an input of shape
    ``(*lead, d_in)`` with ``prod(lead) < rows`` is run as ``(rows, d_in)`` (zeros below) and
    its output cut back to ``(*lead, d_out)``."""
    import torch

    rows = floor() if rows is None else int(rows)

    if not isinstance(module, torch.nn.Module):
        yield
        return
    pending: dict[int, tuple[int, ...]] = {}

    def pre(mod: Any, args: tuple) -> tuple | None:
        x = args[0]
        lead = tuple(x.shape[:-1])
        n = math.prod(lead)
        if n >= rows or not isinstance(x, torch.Tensor):
            return None
        pending[id(mod)] = lead
        flat = x.reshape(n, x.shape[-1])
        return (torch.cat([flat, flat.new_zeros(rows - n, x.shape[-1])]), *args[1:])

    def post(mod: Any, args: tuple, out: Any) -> Any:
        lead = pending.pop(id(mod), None)
        if lead is None:
            return None
        return out[: math.prod(lead)].reshape(*lead, out.shape[-1])

    handles = []
    for sub in module.modules():
        if _is_linear(sub):
            handles += [sub.register_forward_pre_hook(pre), sub.register_forward_hook(post)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
