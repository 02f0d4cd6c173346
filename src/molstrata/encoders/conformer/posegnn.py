"""Pos-EGNN (IBM Research, ``ibm-research/materials.pos-egnn``): not adapted, on purpose.

Pos-EGNN's architecture code is published only in the IBM ``materials`` GitHub repository
(``models/pos_egnn/posegnn``) and in Hugging Face Spaces; it is not on PyPI, and the PyPI
``gotennet`` package (a related equivariant GNN) is a different model whose wheel needs
``torch-cluster``/``torch-sparse`` builds. molstrata builds adapters only against
architecture code it can install and test, so :func:`load_posegnn` raises a
:class:`~molstrata.core.errors.OptionalDependencyError` that says so, and the card states it,
instead of loading an unverified re-implementation.
"""

from __future__ import annotations

from typing import Any

from molstrata.core.errors import OptionalDependencyError
from molstrata.encoders.card import EncoderCard

HUB_ID = "ibm-research/materials.pos-egnn"
CHECKPOINT = "pos-egnn.v1-6M.ckpt"
NUM_LAYERS = 4

REASON = (
    "Pos-EGNN is not available in molstrata: its architecture code is published only in the "
    "IBM 'materials' GitHub repository (models/pos_egnn), not on PyPI, so molstrata cannot "
    "install, build or verify it. Use its own code to extract per-layer node embeddings, or "
    "an adapted 3D encoder (unimol-v1, orb-v3-direct, orb-v3-conservative)."
)


def load_posegnn(**_options: Any) -> Any:
    """Always raises :class:`OptionalDependencyError` (see the module docstring)."""
    raise OptionalDependencyError(REASON)


def posegnn_card() -> EncoderCard:
    """Model card of Pos-EGNN, marked as not adapted."""
    return EncoderCard(
        name="pos-egnn",
        kind="3d",
        num_layers=NUM_LAYERS,
        description=(
            "Pos-EGNN v1 (6M parameters): position-based equivariant GNN pretrained on MPtrj "
            "energies, forces and stress; 4 message-passing layers. NOT ADAPTED: loading raises."
        ),
        source="IBM/materials GitHub (models/pos_egnn/posegnn); not on PyPI",
        weights=f"{HUB_ID}: {CHECKPOINT}",
        how_to_get_weights=(
            "not loadable through molstrata: its architecture code is not on PyPI. "
            f"The weights are {CHECKPOINT} in the Hugging Face repository {HUB_ID}."
        ),
        verified="not adapted: load_encoder('pos-egnn') raises OptionalDependencyError",
        license="Apache-2.0 (per the model page)",
        trained_on="1.4M MPtrj structures (inorganic materials)",
        warnings=["not adapted: architecture code not installable from PyPI"],
        weights_present=False,
    )
