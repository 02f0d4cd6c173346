"""A truncated encoder with a prediction head on top: the model that finetuning trains.

The encoder is *physically* cut at depth k (:func:`truncate`): blocks above k are not built,
so they cost neither memory nor time. Its last layer output is pooled exactly as the
embedding core pools it (:func:`molstrata.encoders.pooling.pool`), so before any training
the pooled features equal the full encoder's layer-k embedding.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from molstrata.core.errors import ConfigError
from molstrata.encoders.pooling import Pooling, pool

if TYPE_CHECKING:
    from molstrata.encoders.base import Encoder


def truncate(encoder: Encoder, n_layers: int) -> Encoder:
    """Keep only the first ``n_layers`` blocks of ``encoder``.

    Parameters
    ----------
    encoder : a loaded :class:`~molstrata.encoders.base.Encoder`
    n_layers : int, 1 <= n_layers <= encoder.num_layers; ``encoder.num_layers`` returns the
        encoder itself (full depth)

    Returns
    -------
    Encoder whose ``num_layers == n_layers``; its last layer output is the full model's
    layer ``n_layers`` output.

    Raises
    ------
    ConfigError
        When ``n_layers`` is out of range or the adapter cannot be truncated.
    """
    n_layers = int(n_layers)
    if not 1 <= n_layers <= encoder.num_layers:
        raise ConfigError(
            f"cannot truncate encoder {encoder.name!r} at layer {n_layers}: it has "
            f"{encoder.num_layers} blocks, so valid depths are 1..{encoder.num_layers}"
        )
    if n_layers == encoder.num_layers:
        return encoder
    cut = encoder.truncate(n_layers)
    if cut.num_layers != n_layers:
        raise ConfigError(
            f"encoder {encoder.name!r}.truncate({n_layers}) returned {cut.num_layers} blocks"
        )
    return cut


@dataclass(frozen=True)
class HeadConfig:
    """The prediction head: Dropout → Linear(d, hidden) → SiLU → Dropout → Linear(hidden, n_out).

    The defaults are the paper's head. ``hidden=0`` gives a linear head
    (Dropout → Linear(d, n_out)).
    """

    hidden: int = 256
    dropout: float = 0.1
    activation: str = "silu"

    def __post_init__(self) -> None:
        if self.hidden < 0:
            raise ConfigError(f"head hidden size must be >= 0, got {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"head dropout must be in [0, 1), got {self.dropout}")
        if self.activation not in _ACTIVATIONS:
            raise ConfigError(
                f"invalid head activation {self.activation!r}; valid: {', '.join(_ACTIVATIONS)}"
            )


_ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def make_head(in_dim: int, n_out: int = 1, config: HeadConfig | None = None) -> nn.Sequential:
    """Build the head mapping pooled features (B, in_dim) to outputs (B, n_out)."""
    config = config or HeadConfig()
    if config.hidden == 0:
        return nn.Sequential(nn.Dropout(config.dropout), nn.Linear(in_dim, n_out))
    return nn.Sequential(
        nn.Dropout(config.dropout),
        nn.Linear(in_dim, config.hidden),
        _ACTIVATIONS[config.activation](),
        nn.Dropout(config.dropout),
        nn.Linear(config.hidden, n_out),
    )


class FinetuneModel(nn.Module):
    """A (truncated) encoder, pooled, with a head.

    Parameters
    ----------
    encoder : Encoder exposing a trainable ``module`` and a differentiable ``_forward``;
        usually the output of :func:`truncate`
    n_out : number of outputs (1 for a single TDC task)
    pooling : pooling of the last layer's states; default: the encoder's default
    head : :class:`HeadConfig`
    layer : which layer output to read; default: the last one (``encoder.num_layers``).
        Only set it for adapters that cannot be truncated (the layers above then still run).

    Notes
    -----
    ``forward(smiles)`` takes a list of B canonical, valid SMILES and returns (B, n_out).
    """

    def __init__(
        self,
        encoder: Encoder,
        n_out: int = 1,
        *,
        pooling: str | Pooling | None = None,
        head: HeadConfig | None = None,
        layer: int | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.backbone: nn.Module = encoder.module  # registered, so .parameters() sees it
        self.pooling = encoder._check_pooling(pooling)
        self.layer = encoder.num_layers if layer is None else int(layer)
        if not 0 <= self.layer <= encoder.num_layers:
            raise ConfigError(
                f"layer {self.layer} out of range for {encoder.name!r} (0..{encoder.num_layers})"
            )
        self.head_config = head or HeadConfig()
        dim = self._feature_dim()
        self.head = make_head(dim, n_out, self.head_config).to(self.device)

    @property
    def device(self) -> torch.device:
        for p in self.backbone.parameters():
            return p.device
        return torch.device("cpu")

    def _feature_dim(self) -> int:
        with torch.no_grad():
            return int(self.features(["C"]).shape[-1])

    def features(self, smiles: Sequence[str]) -> torch.Tensor:
        """Pooled states of the read layer, shape (B, hidden_dim), differentiable."""
        states = self.encoder._forward(list(smiles))
        hidden = states.hidden[self.layer]
        mask = states.mask.to(hidden.device)
        return pool(hidden, mask, self.pooling, states.cls_index).float()

    def forward(self, smiles: Sequence[str]) -> torch.Tensor:  # noqa: D401
        """Head outputs for B canonical SMILES, shape (B, n_out)."""
        feats = self.features(smiles)
        if self.training and torch.is_grad_enabled() and not feats.requires_grad:
            raise ConfigError(
                f"encoder {self.encoder.name!r}: its _forward returned states without "
                "gradients (it runs under no_grad/inference_mode), so it cannot be finetuned"
            )
        return self.head(feats)

    def n_parameters(self) -> int:
        """Number of trainable parameters (encoder and head)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def build_model(
    encoder: Encoder,
    n_layers: int,
    *,
    n_out: int = 1,
    pooling: str | Pooling | None = None,
    head: HeadConfig | None = None,
) -> FinetuneModel:
    """Truncate ``encoder`` at ``n_layers`` blocks and put a head on it.

    Falls back, with a warning, to reading layer ``n_layers`` of the full encoder when the
    adapter cannot be truncated (same result, no saving in time or memory).
    """
    try:
        cut = truncate(encoder, n_layers)
        layer = None
    except ConfigError as exc:
        if "does not support truncation" not in str(exc):
            raise
        warnings.warn(
            f"{exc}; finetuning reads layer {n_layers} of the full model instead "
            "(the layers above still run)",
            stacklevel=2,
        )
        cut, layer = encoder, int(n_layers)
    return FinetuneModel(cut, n_out, pooling=pooling, head=head, layer=layer)
