"""Linear layers that see at least :data:`MIN_ROWS` rows while embedding.

A CPU matrix product takes other kernels, with another summation order, when its input has
very few rows (on this machine's MKL: 1-3 rows give other bits than 4 or more), so a
molecule's embedding would depend on its batch: ``[Li+]`` (one atom, no bond) embedded in a
batch of its own gave other bits than in a batch of small molecules. While embedding,
:func:`min_rows` pads the input of every linear layer of the encoder's module to at least
``MIN_ROWS`` rows with zeros and drops the padded rows from the output, so every row goes
through the same kernels whatever the batch holds. Rows never mix in a linear layer, so the
real rows' values are those of a batch with more rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: fewest rows a linear layer's input has while embedding (padded with zeros up to it)
MIN_ROWS = 4


def _is_linear(module: Any) -> bool:
    """``torch.nn.Linear`` and look-alikes (torch_geometric's ``Linear``): a class named
    ``Linear`` with a 2-D ``weight``."""
    weight = getattr(module, "weight", None)
    return type(module).__name__ == "Linear" and getattr(weight, "ndim", 0) == 2


@contextmanager
def min_rows(module: Any, rows: int = MIN_ROWS) -> Iterator[None]:
    """Inside the block, every linear layer of ``module`` (a ``torch.nn.Module``; ``None``:
    nothing) gets at least ``rows`` input rows: an input of shape ``(*lead, d_in)`` with
    ``prod(lead) < rows`` is run as ``(rows, d_in)`` (zeros below) and its output cut back to
    ``(*lead, d_out)``."""
    import torch

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
