"""Small shared types and utilities: no models, no I/O at import."""

from molstrata.core.config import load_config, save_config
from molstrata.core.embeddings import LayerEmbeddings
from molstrata.core.errors import (
    ChecksumError,
    ConfigError,
    DataNotFoundError,
    InputTypeError,
    InvalidSmilesError,
    LabelError,
    MolstrataError,
    NotFittedError,
    OptionalDependencyError,
    StorageError,
    check_choice,
)
from molstrata.core.seed import seed_everything

__all__ = [
    "ChecksumError",
    "ConfigError",
    "DataNotFoundError",
    "InputTypeError",
    "InvalidSmilesError",
    "LabelError",
    "LayerEmbeddings",
    "MolstrataError",
    "NotFittedError",
    "OptionalDependencyError",
    "StorageError",
    "check_choice",
    "load_config",
    "save_config",
    "seed_everything",
]
