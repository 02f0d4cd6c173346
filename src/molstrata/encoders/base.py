"""The ``Encoder`` contract shared by every adapter.

An adapter implements one hook, :meth:`Encoder._forward`, which runs a batch of canonical
SMILES through the model once and returns the states of every layer as
:class:`BatchStates`. The base class owns the fixed flow: parse → bucket by size → forward
once per batch → pool → restore input order, so every adapter gets validity masks,
batching, OOM recovery and progress bars for free (molfeat's convert → embed split).

Molecules are always fed to the model as RDKit canonical SMILES, so that an embedding
depends on the molecule, not on how its SMILES was written, and the cache can key on it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molstrata.core.embeddings import LayerEmbeddings
from molstrata.core.errors import ConfigError
from molstrata.data.smiles import parse_smiles
from molstrata.encoders.pooling import Pooling


@dataclass
class BatchStates:
    """Every layer's states for one batch of B molecules, padded to T positions.

    Attributes
    ----------
    hidden : list of torch.Tensor, length n_layers + 1, each (B, T, d_k)
        Layer 0 is the input embedding output; layer k the output of block k.
    mask : torch.Tensor of bool, (B, T)
        True on the positions that ``mean``/``max``/``sum`` pool: content tokens or atoms.
        Padding and special tokens are False.
    special : torch.Tensor of bool, (B, T) or None
        True on real (non-padding) special tokens, added to ``mask`` when the caller asks
        to include special tokens.
    cls_index : int
        The position ``cls`` pooling reads (0 for BERT-style models).
    info : dict
        Per-batch facts such as how many inputs were truncated.
    """

    hidden: list[Any]
    mask: Any
    special: Any | None = None
    cls_index: int = 0
    info: dict = field(default_factory=dict)


class Encoder(ABC):
    """A pretrained molecular encoder that exposes every layer.

    Subclasses set ``name`` and ``num_layers`` (the number of blocks: ``embed`` returns
    ``num_layers + 1`` layer outputs) and implement :meth:`_forward`.
    """

    name: str = "encoder"
    num_layers: int = 0
    #: poolings this encoder supports
    poolings: tuple[str, ...] = ("mean", "max", "sum", "cls")
    default_pooling: str = "mean"
    #: molecules per batch when no ``batch_size`` is given
    default_batch_size: int = 64

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _forward(self, smiles: list[str]) -> BatchStates:
        """Run the model once on ``smiles`` (canonical, all valid); keep every layer."""

    def _size(self, smiles: str) -> int:
        """Approximate input length of one molecule, used to bucket batches by size."""
        return len(smiles)

    def identity(self) -> dict[str, Any]:
        """Facts that define this encoder's outputs, hashed into cache keys.

        Must change whenever the weights, tokenizer, truncation or input policy change.
        """
        return {"name": self.name, "num_layers": self.num_layers, "class": type(self).__name__}

    def truncate(self, n_layers: int) -> Encoder:
        """A copy keeping only the first ``n_layers`` blocks (layers above hold no memory)."""
        raise ConfigError(f"encoder {self.name!r} does not support truncation")

    @property
    def module(self) -> Any:
        """The underlying trainable ``torch.nn.Module`` (for finetuning)."""
        raise ConfigError(f"encoder {self.name!r} exposes no trainable module")

    # ------------------------------------------------------------------ flow
    def embed(
        self,
        smiles: Sequence[str],
        *,
        pooling: str | Pooling | None = None,
        batch_size: int | None = None,
        on_invalid: str = "raise",
        include_special: bool = False,
        progress: bool | None = None,
    ) -> LayerEmbeddings:
        """Embed ``smiles`` and return every layer, pooled.

        Parameters
        ----------
        smiles : sequence of str, length n_molecules
        pooling : one of :attr:`poolings`; defaults to :attr:`default_pooling`
        batch_size : molecules per forward pass (halved automatically on out-of-memory)
        on_invalid : ``"raise"`` or ``"mask"`` (NaN rows, ``valid`` False; rows never shift)
        include_special : pool special tokens too (mean/max/sum)
        progress : show a progress bar; default: only for more than 2,000 molecules

        Returns
        -------
        LayerEmbeddings with ``num_layers + 1`` arrays of shape (n_molecules, dim_k).
        """
        from molstrata.embeddings.extract import embed_canonical  # noqa: PLC0415

        method = self._check_pooling(pooling)
        parsed = parse_smiles(smiles, on_invalid=on_invalid)
        idx = np.flatnonzero(parsed.valid)
        canon = [parsed.canonical[i] for i in idx]
        pooled, info = embed_canonical(
            self, canon, pooling=method, batch_size=batch_size,
            include_special=include_special, progress=progress,
        )
        n = len(parsed.smiles)
        layers = []
        for arr in pooled:
            full = np.full((n, arr.shape[1]), np.nan, dtype=np.float32)
            full[idx] = arr
            layers.append(full)
        return LayerEmbeddings(
            layers=tuple(layers), valid=parsed.valid, smiles=parsed.smiles,
            encoder=self.name, pooling=method.value, meta=info,
        )

    def token_states(
        self, smiles: Sequence[str], *, batch_size: int | None = None,
        include_special: bool = False,
    ) -> list[list[np.ndarray]]:
        """Unpooled states: ``out[k][i]`` is molecule i's (n_tokens_i, dim_k) array at layer k.

        Only the positions in the pooling mask are kept (content tokens or atoms; special
        tokens too when ``include_special``). Raises on invalid SMILES. Used by the
        label-free analysis (token entropy, curvature).
        """
        import torch

        parsed = parse_smiles(smiles, on_invalid="raise")
        canon = list(parsed.canonical)
        bs = int(batch_size or self.default_batch_size)
        out: list[list[np.ndarray]] = []
        with torch.inference_mode():
            for start in range(0, len(canon), bs):
                states = self._forward(canon[start : start + bs])
                mask = states.mask
                if include_special and states.special is not None:
                    mask = mask | states.special
                mask = mask.bool().cpu()
                if not out:
                    out = [[] for _ in states.hidden]
                for k, h in enumerate(states.hidden):
                    h = h.float().cpu()
                    for b in range(h.shape[0]):
                        out[k].append(h[b][mask[b]].numpy().copy())
        return out

    def _check_pooling(self, pooling: str | Pooling | None) -> Pooling:
        method = Pooling.parse(pooling or self.default_pooling)
        if method.value not in self.poolings:
            raise ConfigError(
                f"encoder {self.name!r} does not support pooling {method.value!r}; "
                f"valid: {', '.join(self.poolings)}"
            )
        return method

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, num_layers={self.num_layers})"
