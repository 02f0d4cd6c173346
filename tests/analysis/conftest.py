"""A tiny, seeded, character-level sequence encoder for the analysis tests (no network)."""

from __future__ import annotations

import numpy as np
import pytest


def _make_toy_encoder(num_layers: int = 3, dim: int = 16, seed: int = 0):
    import torch

    from molstrata.encoders.base import BatchStates, Encoder

    class ToyCharEncoder(Encoder):
        """Characters → embeddings → ``num_layers`` blocks mixing each token with its
        neighbours. Sees the SMILES string, so randomised SMILES give different states."""

        name = "toy-char"
        poolings = ("mean", "max", "sum")

        def __init__(self) -> None:
            g = torch.Generator().manual_seed(seed)
            self.num_layers = num_layers
            self.emb = torch.randn(128, dim, generator=g)
            self.pos = 0.1 * torch.randn(256, dim, generator=g)
            self.w = [torch.randn(dim, dim, generator=g) / dim**0.5 for _ in range(num_layers)]
            self.m = [torch.randn(dim, dim, generator=g) / dim**0.5 for _ in range(num_layers)]

        def identity(self) -> dict:
            return {**super().identity(), "weights": f"toy-seed{seed}-dim{dim}-v2"}

        def _forward(self, smiles: list[str]) -> BatchStates:
            T = max(len(s) for s in smiles)
            ids = torch.zeros(len(smiles), T, dtype=torch.long)
            mask = torch.zeros(len(smiles), T, dtype=torch.bool)
            for b, s in enumerate(smiles):
                ids[b, : len(s)] = torch.tensor([min(ord(c), 127) for c in s])
                mask[b, : len(s)] = True
            h = self.emb[ids] + self.pos[:T]
            h = h * mask.unsqueeze(-1)
            hidden = [h]
            for w, m in zip(self.w, self.m, strict=True):
                # neighbours with zero padding at both ends: independent of batch padding
                nb = torch.nn.functional.pad(h[:, :-1], (0, 0, 1, 0)) + torch.nn.functional.pad(
                    h[:, 1:], (0, 0, 0, 1)
                )
                h = torch.tanh(h @ w + 0.5 * nb @ m) * mask.unsqueeze(-1)
                hidden.append(h)
            return BatchStates(hidden=hidden, mask=mask)

    return ToyCharEncoder()


@pytest.fixture(scope="session")
def toy_encoder():
    """A 3-block, 16-wide character encoder with fixed random weights."""
    return _make_toy_encoder()


@pytest.fixture(scope="session")
def small_smiles(data_dir) -> list[str]:
    """60 SMILES from a TDC task file (read in place, never copied)."""
    import pandas as pd

    frame = pd.read_csv(data_dir / "admet_group" / "caco2_wang" / "train_val.csv")
    return frame["Drug"].iloc[:60].tolist()


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
