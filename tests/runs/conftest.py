"""A fast fake encoder for the run tests (the probe sweep end to end, no model files)."""

from __future__ import annotations

import pytest
import torch

from molstrata.encoders.base import BatchStates, Encoder


class HashEncoder(Encoder):
    """A fast deterministic fake encoder: 3 layers (2 blocks) of width 8 computed from
    character counts of the canonical SMILES; layer 1 is the most informative about size."""

    name = "hash-encoder"
    num_layers = 2
    _alphabet = "CNOScnos()=#123[]+-lBrFI"

    def __init__(self, name: str = "hash-encoder", seed: int = 0):
        self.name = name
        self.seed = seed

    def identity(self):
        return {"name": self.name, "version": 1, "seed": self.seed}

    def _forward(self, smiles):
        counts = torch.tensor(
            [[s.count(c) for c in self._alphabet] for s in smiles], dtype=torch.float32
        )
        g = torch.Generator().manual_seed(self.seed)
        hidden = []
        h = counts
        for _ in range(self.num_layers + 1):
            w = torch.randn(h.shape[1], 8, generator=g) / 3
            h = torch.tanh(h @ w)
            hidden.append(h[:, None, :])
        mask = torch.ones(len(smiles), 1, dtype=torch.bool)
        return BatchStates(hidden=hidden, mask=mask)


@pytest.fixture
def hash_encoder():
    return HashEncoder()


@pytest.fixture
def make_hash_encoder():
    """Factory: ``make_hash_encoder(name, seed)`` → a :class:`HashEncoder`."""
    return HashEncoder
