"""Encoders: the ``Encoder`` contract, its adapters, and the registry that loads them."""

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
from molstrata.encoders.smiles.hf import HFEncoder, load_hf

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
