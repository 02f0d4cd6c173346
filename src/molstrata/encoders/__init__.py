"""Encoders: the ``Encoder`` contract, its adapters, and the registry that loads them."""

from molstrata.encoders.base import BatchStates, Encoder
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
    "Pooling",
    "get_card",
    "load_encoder",
    "pool",
    "register_encoder",
    "register_prefix",
    "registered_names",
]
