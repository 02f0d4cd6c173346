"""The one device resolver: an explicit ``--device`` wins, else CUDA when available, else CPU.

Torch is imported only when no device is given (``import molstrata.core`` stays light).
"""

from __future__ import annotations

__all__ = ["resolve_device"]


def resolve_device(device: str | None = None) -> str:
    """``device`` as given (``"cpu"``, ``"cuda:1"``...), or ``"cuda"`` when torch sees a GPU,
    else ``"cpu"``."""
    if device:
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
