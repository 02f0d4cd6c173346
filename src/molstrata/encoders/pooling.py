"""Pooling of per-token (or per-atom) states into one vector per molecule.

Pooling lives with the encoders, not in ``embeddings/``, because the finetuning head pools
the same way and the arrows in the design only point right: ``finetune`` imports
``encoders``, never ``embeddings``. torch is imported on the first :func:`pool`, so that
``import molstrata.encoders`` and ``molstrata encoders`` load no torch.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported when pooling runs, so that listing encoders needs none
    import torch


class Pooling(StrEnum):
    """How token/atom states become one vector per molecule."""

    MEAN = "mean"
    MAX = "max"
    SUM = "sum"
    CLS = "cls"

    @classmethod
    def parse(cls, value: str | Pooling) -> Pooling:
        from molstrata.core.errors import check_choice

        if isinstance(value, Pooling):
            return value
        check_choice("pooling", value, [p.value for p in cls])
        return cls(value)


def pool(
    hidden: torch.Tensor,
    mask: torch.Tensor,
    method: Pooling | str,
    cls_index: int = 0,
) -> torch.Tensor:
    """Pool states of shape (B, T, d) over the positions where ``mask`` (B, T) is True.

    ``mean`` divides by the number of masked positions (at least 1), ``max`` ignores
    unmasked positions, ``sum`` adds masked positions, and ``cls`` takes position
    ``cls_index`` whatever the mask. Returns (B, d) in the dtype of ``hidden``.
    """
    import torch

    method = Pooling.parse(method)
    if method is Pooling.CLS:
        return hidden[:, cls_index]
    m = mask.to(hidden.dtype).unsqueeze(-1)  # B, T, 1
    if method is Pooling.SUM:
        return (hidden * m).sum(dim=1)
    if method is Pooling.MEAN:
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
    neg = torch.finfo(hidden.dtype).min
    return hidden.masked_fill(~mask.bool().unsqueeze(-1), neg).amax(dim=1)
