"""Model cards: validated metadata for every registered encoder (molfeat's ``ModelInfo``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class EncoderCard(BaseModel):
    """What a user needs to know about an encoder before trusting its layers.

    ``weights_present`` is filled in by the registry at listing time.
    """

    name: str
    kind: Literal["smiles-transformer", "graph", "3d", "other"]
    num_layers: int = Field(description="number of blocks; embed() returns num_layers + 1 outputs")
    dims: list[int] | None = Field(default=None, description="output dim of each layer, if known")
    description: str = ""
    source: str = Field(default="", description="where the architecture code and weights come from")
    weights: str = Field(default="", description="HF id, local path or packaged file of the weights")
    how_to_get_weights: str = ""
    verified: str = Field(default="", description="what the adapter was checked against")
    license: str = ""
    trained_on: str = ""
    warnings: list[str] = Field(default_factory=list)
    extra: str | None = Field(default=None, description="pip extra needed, e.g. 'minimol'")
    weights_present: bool | None = None
