"""Encoders: the ``Encoder`` contract, its adapters, and the registry that loads them.

The top of ``encoders/`` holds the contract (``base``, ``flow``, ``prelude``, ``pooling``),
the registry and cards, the built-in models and the zoo; the adapters live by kind in
``smiles/``, ``graph/`` and ``conformer/``. Importing this package loads no torch and no
model code: adapters are imported when an encoder is loaded (``HFEncoder`` and ``load_hf``
on first access).
"""

from __future__ import annotations

import importlib
from typing import Any

from molstrata.encoders.base import BatchStates, Encoder, InputTooLongError
from molstrata.encoders.card import EncoderCard
from molstrata.encoders.pooling import Pooling, pool
from molstrata.encoders.registry import (
    get_card,
    load_encoder,
    register_encoder,
    register_prefix,
    registered_names,
)

__all__ = [
    "BatchStates",
    "Encoder",
    "EncoderCard",
    "HFEncoder",
    "InputTooLongError",
    "Pooling",
    "get_card",
    "load_encoder",
    "load_hf",
    "pool",
    "register_encoder",
    "register_prefix",
    "registered_names",
]

_LAZY = {"HFEncoder": "molstrata.encoders.smiles.hf", "load_hf": "molstrata.encoders.smiles.hf"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'molstrata.encoders' has no attribute {name!r}")
