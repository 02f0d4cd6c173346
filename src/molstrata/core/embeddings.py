"""The object that flows from encoders to every later stage."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class LayerEmbeddings(Sequence[np.ndarray]):
    """Pooled embeddings of every layer of an encoder, for a list of molecules.

    ``e[k]`` is a float32 array of shape ``(n_molecules, dim_k)``; layer 0 is the input
    embedding output (for a transformer, ``hidden_states[0]``) and layer ``k`` the output of
    block ``k``. Dimensions may differ between layers (MiniMol). Rows follow input order;
    rows of invalid molecules are NaN and ``valid`` is False there.

    Attributes
    ----------
    layers : tuple of ndarray, each (n_molecules, dim_k), float32
    valid : ndarray of bool, shape (n_molecules,)
    smiles : tuple of str, length n_molecules, the input strings
    encoder : str, the encoder's name
    pooling : str, the pooling used
    meta : dict, extra facts (truncated inputs, encoder identity...)
    """

    layers: tuple[np.ndarray, ...]
    valid: np.ndarray
    smiles: tuple[str, ...]
    encoder: str = ""
    pooling: str = "mean"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.smiles)
        if self.valid.shape != (n,):
            raise ValueError(f"valid mask has shape {self.valid.shape}, expected ({n},)")
        for k, layer in enumerate(self.layers):
            if layer.ndim != 2 or layer.shape[0] != n:
                raise ValueError(f"layer {k} has shape {layer.shape}, expected ({n}, dim)")

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, k: int) -> np.ndarray:  # type: ignore[override]
        return self.layers[k]

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.layers)

    @property
    def n_molecules(self) -> int:
        return len(self.smiles)

    @property
    def n_layers(self) -> int:
        """Number of layer outputs (embedding layer included)."""
        return len(self.layers)

    @property
    def dims(self) -> list[int]:
        return [int(layer.shape[1]) for layer in self.layers]

    def relative_depth(self) -> np.ndarray:
        """Depth of each layer in [0, 1]: ``k / (n_layers - 1)``, shape (n_layers,)."""
        n = len(self.layers)
        return np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)

    def subset(self, rows: Sequence[int] | np.ndarray) -> LayerEmbeddings:
        """The same layers restricted to ``rows`` (indices or a boolean mask)."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return LayerEmbeddings(
            layers=tuple(np.asarray(layer[rows]) for layer in self.layers),
            valid=self.valid[rows],
            smiles=tuple(self.smiles[i] for i in rows),
            encoder=self.encoder,
            pooling=self.pooling,
            meta=dict(self.meta),
        )

    def stack(self) -> np.ndarray:
        """All layers as one array (n_layers, n_molecules, dim); needs equal dims."""
        if len(set(self.dims)) != 1:
            raise ValueError(f"layers have different dims {self.dims}; cannot stack")
        return np.stack(self.layers)
