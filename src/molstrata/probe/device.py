"""Where the linear probes' torch work runs (``molstrata probe --device``).

The linear probe (:mod:`molstrata.probe.linear`) and its cross-validation
(:mod:`molstrata.probe.cv`) create their tensors on :func:`current_device` and read results
back with :func:`as_numpy`. The device is set for a block of code with :func:`probe_device`;
outside one it is the CPU. On the CPU both helpers return their argument's data without a
copy, so the CPU runs the same code and gives the same bytes as before the device existed.

A GPU gives other round-off than the CPU (its reductions are ordered differently), so a run
fitted there is not byte-identical to a CPU run: the probe sweep adds the device to its cells'
keys and run record (:mod:`molstrata.runs.probe`), so a CPU rerun never mixes in a GPU's cells.
Sparse training rows (count fingerprints) stay on the CPU: they are multiplied by SciPy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

_DEVICE: ContextVar[str | None] = ContextVar("molstrata_probe_device", default=None)


def placed(device: str | None) -> str:
    """Where :func:`probe_device` puts the probes for ``device``: ``device`` itself for the CPU
    and CUDA devices; the CPU for ``None`` and for a device without float64 arithmetic
    (``"mps"``: the probes work in float64), which then serves the encoder only."""
    kind = str(device or "").split(":")[0]
    return str(device) if kind in ("cpu", "cuda") else "cpu"


@contextmanager
def probe_device(device: str | None) -> Iterator[None]:
    """Run the linear probes' torch work inside the block on :func:`placed` ``(device)``
    (``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None``: the CPU)."""
    token = _DEVICE.set(placed(device) if device else None)
    try:
        yield
    finally:
        _DEVICE.reset(token)


def current_device() -> str:
    """The device set by the innermost :func:`probe_device`, else ``"cpu"``."""
    return _DEVICE.get() or "cpu"


def to_device(tensor: Any) -> Any:
    """``tensor`` on :func:`current_device` (the same tensor when it is there already)."""
    return tensor.to(current_device())


def as_numpy(tensor: Any) -> np.ndarray:
    """A torch tensor's values as a NumPy array (shares memory on the CPU; copied from a GPU)."""
    return tensor.numpy() if tensor.device.type == "cpu" else tensor.cpu().numpy()
