"""Orb v3 (Rhodes et al. 2025) direct / conservative through ``orb-models``: node states after
every message-passing step.

The architecture is built by ``orb_models.forcefield.pretrained.orb_v3_direct_architecture`` /
``orb_v3_conservative_architecture`` exactly as published on PyPI (``orb-models`` 0.5.x, the
last release for Python 3.11); molstrata reads the backbone ``MoleculeGNS`` only (the energy,
force and confidence heads are not run). Inputs are one RDKit conformer per molecule with
explicit hydrogens (:mod:`molstrata.data.conformers`), turned into orb's graphs with
``ase_atoms_to_atom_graphs`` and the checkpoint's ``SystemConfig`` (6 Å radius, 20 or 120
neighbours), no periodic cell.

Layers: layer 0 is the node latent after orb's encoder MLP; layer k (1..5) the node latent after
message-passing step k. Pooling: ``mean`` (default), ``sum`` or ``max`` over atoms, hydrogens
included (orb was trained on all atoms).

Checkpoints are read with ``torch.load(weights_only=True)`` from a local path; molstrata never
downloads them (orb-models' own loader would fetch them with ``cached_path``).
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from molstrata.core.errors import (
    ConfigError,
    DataNotFoundError,
    OptionalDependencyError,
    check_choice,
)
from molstrata.encoders.base import BatchStates
from molstrata.encoders.card import EncoderCard
from molstrata.encoders.conformer.conformer3d import (
    Conformer3DEncoder,
    layer_outputs,
    load_fitting_state,
)

INSTALL_HINT = (
    '`pip install --no-deps "orb-models>=0.5.5,<0.6"` then `pip install "molstrata[orb]"` '
    "(orb-models' own requirements pull cached_path, which downgrades huggingface_hub)"
)
_BASE_URL = "https://orbitalmaterials-public-models.s3.us-west-1.amazonaws.com/forcefields/"


@dataclass(frozen=True)
class OrbVariant:
    """One published Orb v3 checkpoint: architecture kind, neighbours, conditioning, file."""

    name: str
    kind: str  # "direct" or "conservative"
    max_num_neighbors: int
    charge_spin: bool
    has_stress: bool
    filename: str


VARIANTS = {
    v.name: v
    for v in (
        OrbVariant("direct-20-omat", "direct", 20, False, True, "orb-v3/orb-v3-direct-20-omat-20250404.ckpt"),
        OrbVariant("direct-inf-omat", "direct", 120, False, True, "orb-v3/orb-v3-direct-inf-omat-20250404.ckpt"),
        OrbVariant("conservative-20-omat", "conservative", 20, False, True,
                   "orb-v3/orb-v3-conservative-20-omat-20250404.ckpt"),
        OrbVariant("conservative-inf-omat", "conservative", 120, False, True,
                   "orb-v3/orb-v3-conservative-inf-omat-20250404.ckpt"),
        OrbVariant("direct-omol", "direct", 120, True, False, "orb-v3-direct-omol-20250820.ckpt"),
        OrbVariant("conservative-omol", "conservative", 120, True, False,
                   "orb-v3-conservative-omol-20250820.ckpt"),
    )
}
NUM_STEPS = 5
LATENT = 256


def _orb() -> Any:
    """``orb_models.forcefield.pretrained`` (architectures), importable without ``cached_path``.

    orb-models imports ``cached_path`` only to download checkpoints, which molstrata never
    does; when it is absent a stand-in that refuses to download is used during the import.
    """
    try:
        import ase  # noqa: F401
        import tree  # noqa: F401
    except ImportError as exc:
        raise OptionalDependencyError(f"the Orb adapter needs {exc.name}; install with {INSTALL_HINT}") from exc
    stub = None
    if "cached_path" not in sys.modules:
        try:
            import cached_path  # noqa: F401
        except ImportError:
            stub = types.ModuleType("cached_path")

            def refuse(*_a: Any, **_k: Any) -> None:
                raise DataNotFoundError("molstrata reads Orb checkpoints from local paths only")

            stub.cached_path = refuse  # type: ignore[attr-defined]
            sys.modules["cached_path"] = stub
    try:
        from orb_models.forcefield import pretrained
    except ImportError as exc:
        raise OptionalDependencyError(f"the Orb adapter needs orb-models ({exc}); install with {INSTALL_HINT}") from exc
    finally:
        if stub is not None and sys.modules.get("cached_path") is stub:
            del sys.modules["cached_path"]
    return pretrained


def build_orb_v3(variant: str = "direct-20-omat", *, num_steps: int = NUM_STEPS,
                 arch: dict[str, Any] | None = None) -> Any:
    """An Orb v3 force-field regressor (orb-models' class) with fresh weights.

    Parameters
    ----------
    variant : key of :data:`VARIANTS`
    num_steps : message-passing steps to build (truncation at load)
    arch : other keyword overrides of the architecture function (small test models:
        ``latent_dim``, ``base_mlp_hidden_dim``...)
    """
    check_choice("variant", variant, tuple(VARIANTS))
    v = VARIANTS[variant]
    pretrained = _orb()
    from orb_models.forcefield.atomic_system import SystemConfig

    build = (pretrained.orb_v3_direct_architecture if v.kind == "direct"
             else pretrained.orb_v3_conservative_architecture)
    return build(
        num_message_passing_steps=int(num_steps), has_charge_spin_cond=v.charge_spin,
        has_stress=v.has_stress, device="cpu",
        system_config=SystemConfig(radius=6.0, max_num_neighbors=v.max_num_neighbors),
        **(arch or {}),
    ).eval()


def _load_weights(model: Any, path: Path) -> None:
    from molstrata.core.safeload import load_tensors

    state = load_tensors(path, what="Orb checkpoint")
    if not isinstance(state, dict):
        raise ConfigError(f"Orb checkpoint {path} holds a {type(state).__name__}, not a state dict")
    load_fitting_state(model, state, source=str(path),
                       what="does not fit this Orb v3 architecture (is it the right variant?)")


class OrbEncoder(Conformer3DEncoder):
    """Every message-passing step of an Orb v3 backbone on RDKit conformers.

    Attributes
    ----------
    model : orb-models Direct/ConservativeForcefieldRegressor (``.model`` is the GNS)
    num_layers : message-passing steps kept; ``embed`` returns ``num_layers + 1`` layers
    variant : key of :data:`VARIANTS`
    """

    poolings = ("mean", "max", "sum")
    default_pooling = "mean"
    token_budget = 4096
    max_batch_size = 64

    def __init__(self, model: Any, *, name: str, variant: str, full_num_layers: int,
                 conformer_seed: int = 0, facts: dict[str, Any] | None = None,
                 device: str | None = None) -> None:
        self._setup(model, name=name, full_num_layers=full_num_layers, conformer_seed=conformer_seed,
                    facts=facts, device=device)
        self.variant = variant
        self.num_layers = len(model.model.gnn_stacks)

    def _sizes(self, smiles: list[str]) -> np.ndarray:
        from rdkit import Chem

        return np.asarray([Chem.AddHs(Chem.MolFromSmiles(s)).GetNumAtoms() for s in smiles], dtype=np.int64)

    def graphs(self, smiles: list[str]) -> Any:
        """orb's batched ``AtomGraphs`` of ``smiles`` (one conformer each, hydrogens explicit)."""
        import ase
        from orb_models.forcefield.atomic_system import ase_atoms_to_atom_graphs
        from orb_models.forcefield.base import batch_graphs
        from rdkit import Chem

        self.prepare(smiles)
        graphs = []
        for s in smiles:
            conf = self._conformers[s]
            atoms = ase.Atoms(numbers=conf.atomic_numbers, positions=conf.coords.astype(np.float64))
            if VARIANTS[self.variant].charge_spin:
                mol = Chem.MolFromSmiles(s)
                atoms.info["charge"] = float(Chem.GetFormalCharge(mol))
                atoms.info["spin"] = float(sum(a.GetNumRadicalElectrons() for a in mol.GetAtoms()) + 1)
            graphs.append(ase_atoms_to_atom_graphs(
                atoms, self.model.system_config, device=self.device, output_dtype=next(self.model.parameters()).dtype,
            ))
        return batch_graphs(graphs)

    def _forward(self, smiles: list[str]) -> BatchStates:
        import torch

        batch = self.graphs(smiles)
        gns = self.model.model
        nodes = layer_outputs(gns._encoder, gns.gnn_stacks, lambda: gns(batch), first_returns_tuple=True)
        # (n_atoms_total, d) -> (B, T, d) padded; atoms of a molecule are contiguous in orb's batch
        counts = batch.n_node.to(self.device)
        mol = torch.repeat_interleave(torch.arange(len(smiles), device=self.device), counts)
        starts = torch.cumsum(counts, 0) - counts
        pos = torch.arange(len(mol), device=self.device) - starts[mol]
        t_max = int(counts.max())
        mask = torch.zeros(len(smiles), t_max, dtype=torch.bool, device=self.device)
        mask[mol, pos] = True
        hidden = []
        for h in nodes:
            dense = h.new_zeros(len(smiles), t_max, h.shape[-1])
            dense[mol, pos] = h
            hidden.append(dense)
        return BatchStates(hidden=hidden, mask=mask, special=None, cls_index=0)

    def _identity_fields(self) -> dict[str, Any]:
        return {"variant": self.variant, **super()._identity_fields()}

    def truncate(self, n_layers: int) -> OrbEncoder:
        """A copy keeping the first ``n_layers`` message-passing steps."""
        model = self._truncated_model(n_layers, self.model.model, "gnn_stacks", unit="steps")
        model.model.num_message_passing_steps = int(n_layers)
        return self._sharing_conformers(OrbEncoder(
            model, name=self.name, variant=self.variant, full_num_layers=self.full_num_layers,
            conformer_seed=self.conformer_seed, facts=self._facts, device=str(self.device),
        ))


def load_orb(
    variant: str = "direct-20-omat",
    *,
    path: str | Path | None = None,
    device: str | None = None,
    max_layer: int | None = None,
    random_init: bool = False,
    seed: int = 0,
    conformer_seed: int = 0,
    arch: dict[str, Any] | None = None,
    name: str | None = None,
    trust_remote_code: bool = False,
) -> OrbEncoder:
    """Load an Orb v3 backbone as an :class:`OrbEncoder`.

    Parameters
    ----------
    variant : key of :data:`VARIANTS` (``"direct-20-omat"``, ``"conservative-inf-omat"``...)
    path : the variant's ``.ckpt`` (a plain state dict); required unless ``random_init``;
        default: ``$ORB_WEIGHT_DIR/<file name>`` when that variable is set
    max_layer : build with only the first ``max_layer`` message-passing steps
    random_init : same architecture, weights drawn with ``seed``
    conformer_seed : RDKit embedding seed of the conformers
    arch : architecture overrides (small test models)
    trust_remote_code : unused; accepted for the common signature
    """
    import torch

    check_choice("variant", variant, tuple(VARIANTS))
    if max_layer is not None and not 1 <= int(max_layer) <= NUM_STEPS:
        raise ConfigError(f"max_layer={max_layer} is out of range: Orb v3 has {NUM_STEPS} message-passing steps")
    ckpt = None
    if not random_init:
        ckpt = Path(path) if path is not None else default_checkpoint(variant)
        if ckpt is None:
            raise DataNotFoundError(
                f"no Orb checkpoint for {variant!r}: pass path= (the .ckpt file) or set "
                f"ORB_WEIGHT_DIR to a folder holding {Path(VARIANTS[variant].filename).name} "
                f"(download: {_BASE_URL}{VARIANTS[variant].filename})"
            )
    steps = NUM_STEPS if max_layer is None else int(max_layer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = build_orb_v3(variant, num_steps=steps, arch=arch)
    if ckpt is not None:
        _load_weights(model, ckpt)
    facts = {"source": str(ckpt) if ckpt else "random", "random_init": bool(random_init)}
    if random_init:
        facts["seed"] = int(seed)
    return OrbEncoder(model, name=name or f"orb-v3-{variant}", variant=variant,
                      full_num_layers=NUM_STEPS, conformer_seed=conformer_seed, facts=facts,
                      device=device)


def default_checkpoint(variant: str) -> Path | None:
    """``$ORB_WEIGHT_DIR/<file name of variant>`` when the variable is set, else ``None``."""
    import os

    folder = os.environ.get("ORB_WEIGHT_DIR", "").strip()
    return Path(folder).expanduser() / Path(VARIANTS[variant].filename).name if folder else None


def orb_card(variant: str = "direct-20-omat") -> EncoderCard:
    """Model card of an Orb v3 variant; ``weights_present`` looks in ``ORB_WEIGHT_DIR``."""
    v = VARIANTS[variant]
    ckpt = default_checkpoint(variant)
    return EncoderCard(
        name=f"orb-v3-{variant}",
        kind="3d",
        num_layers=NUM_STEPS,
        dims=[LATENT] * (NUM_STEPS + 1),
        description=(
            f"Orb v3 {v.kind} (Orbital Materials 2025) machine-learned interatomic potential: "
            f"attention-gated message-passing GNS, {NUM_STEPS} steps, {LATENT}-d node latents, "
            f"6 Å radius, {v.max_num_neighbors} neighbours"
            + (", total charge/spin conditioning" if v.charge_spin else "")
            + ". Layer 0: encoded atoms; layer k: node states after step k; mean over atoms "
            "(hydrogens included)."
        ),
        source="orb-models 0.5.5 on PyPI: orb_models.forcefield.pretrained."
               f"orb_v3_{v.kind}_architecture, unmodified (backbone MoleculeGNS only)",
        weights=f"{_BASE_URL}{v.filename}",
        how_to_get_weights=(
            f"download {Path(v.filename).name} from {_BASE_URL}{v.filename} into a folder and set "
            "ORB_WEIGHT_DIR to it, or pass path=<file>."
        ),
        verified=(
            "offline only, with random weights in orb-models' own architecture (small config): "
            "layer count, shapes, determinism, truncation == full prefix, last layer == the "
            "MoleculeGNS node_features (tests/encoders/test_orb.py). Not yet run against the "
            "published checkpoint (no network on the build machine)."
        ),
        license="Apache-2.0 (orb-models code and weights)",
        trained_on="OMat24 (inorganic materials)" if "omat" in variant else "OMol25 (molecules)",
        warnings=[
            "trained on materials (OMat24): molecules are out of its training domain"
            if "omat" in variant else "conditioned on total charge and spin (RDKit formal charge, radicals)",
            "conformers come from molstrata's RDKit recipe (ETKDGv3 + MMFF)",
        ],
        extra="orb",
        weights_present=bool(ckpt and ckpt.is_file()),
    )
