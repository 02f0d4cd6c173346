"""MiniMol v1 (graphcore, 2024) as a molstrata encoder, with all 16 GNN layers.

MiniMol is a 16-layer GINE network with a virtual node, pretrained on biological and
quantum-chemical tasks; its published fingerprint is the max-pooled output of the last
GNN layer (512-d). The ``minimol`` package needs graphium, which does not install
cleanly, so molstrata re-implements the featuriser (:mod:`.minimol_featurize`) and the
layer stack (:mod:`.minimol_net`) in torch / torch_geometric and loads the original
``state_dict.pth`` with ``torch.load(weights_only=True)``.

Layers
------
``embed()`` returns 17 arrays (``num_layers = 16`` blocks plus the input embedding):

=========  ========================================  =====  ==========================
molstrata  what                                      dim    reference key (graphium)
=========  ========================================  =====  ==========================
0          node embedding after ``pre_nn`` (PE+atom)  128    (none)
k = 1..16  output of GNN layer k-1 (+residual, VN)   336    ``gnn_{k-1}`` ("gnn:{k-1}")
16                                                    512    ``gnn_15``: the fingerprint
=========  ========================================  =====  ==========================

Pooling is over heavy atoms: ``max`` (MiniMol's own, the default), ``mean`` or ``sum``.

Weights
-------
Found by :func:`~molstrata.encoders.graph.minimol_weights.find_weights`: a ``weights_dir=``,
the ``MOLSTRATA_MINIMOL_DIR`` folder, an installed ``minimol`` wheel (never imported), a previous
download, or a hash-checked download of the minimol 1.3.5 wheel (``download=True``).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from molstrata.core.device import resolve_device
from molstrata.core.errors import (
    ConfigError,
    DataNotFoundError,
    InvalidSmilesError,
)
from molstrata.core.hashing import file_sha256
from molstrata.encoders.base import BatchStates, Encoder
from molstrata.encoders.card import EncoderCard
from molstrata.encoders.graph.minimol_weights import (
    ENV_DIR,
    INSTALL_HINT,
    STATE_DICT_SHA256,
    WHEEL_NAME,
    WHEEL_SHA256,
    WHEEL_URL,
    _check_config,
    _load_state_dict,
    download_weights,
    find_weights,
)

__all__ = [  # the weight finders stay importable from here
    "DIMS", "ENV_DIR", "INSTALL_HINT", "NUM_LAYERS", "STATE_DICT_SHA256", "WHEEL_NAME",
    "WHEEL_SHA256", "WHEEL_URL", "MiniMolEncoder", "collate", "download_weights", "find_weights",
    "load_minimol", "minimol_card",
]

NUM_LAYERS = 16
DIMS = [128] + [336] * 15 + [512]


# ----------------------------------------------------------------------------- batching
@lru_cache(maxsize=16384)
def _graph(smiles: str):
    """Featurise with a cache (float16 arrays, ~5 kB a molecule) so finetuning epochs reuse it."""
    from molstrata.encoders.graph.minimol_featurize import featurize

    return featurize(smiles)


def collate(graphs: Sequence[Any], device: Any = None) -> dict[str, Any]:
    """Concatenate featurised molecules into one disconnected graph of N atoms, E edges.

    Returns the keyword arguments of :meth:`MiniMolNet.forward` (float32 tensors).
    """
    import torch

    sizes = [g.num_nodes for g in graphs]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    edge_index = np.concatenate(
        [g.edge_index + o for g, o in zip(graphs, offsets, strict=True)], axis=1
    )

    def cat(name: str) -> torch.Tensor:
        return torch.from_numpy(
            np.concatenate([getattr(g, name) for g in graphs]).astype(np.float32)
        )

    batch = np.repeat(np.arange(len(graphs), dtype=np.int64), sizes)
    out = dict(
        x=cat("x"), edge_index=torch.from_numpy(edge_index), edge_attr=cat("edge_attr"),
        eigvecs=cat("eigvecs"), eigvals=cat("eigvals"), rw=cat("rw"), batch=torch.from_numpy(batch),
    )  # fmt: skip
    out = {k: v.to(device) for k, v in out.items()} if device is not None else out
    out["num_graphs"] = len(graphs)
    return out


@lru_cache(maxsize=1)
def _lapack_signature() -> str:
    """A short hash of this machine's Laplacian eigenvectors for a fixed molecule.

    Eigenvector signs depend on the LAPACK build and CPU kernels, and MiniMol's outputs
    on those signs; putting this in the cache identity keeps caches written on machines
    that disagree apart.
    """
    from molstrata.encoders.graph.minimol_featurize import featurize

    g = featurize("CC(=O)Nc1ccc(O)cc1C(=O)OCC1CCN(C)C1")
    return hashlib.sha256(g.eigvecs.tobytes()).hexdigest()[:12]


# ----------------------------------------------------------------------------- encoder
class MiniMolEncoder(Encoder):
    """MiniMol v1, every GNN layer (see the module docstring for the layer map).

    Use :func:`load_minimol` (or ``load_encoder("minimol")``) to build one.
    """

    name = "minimol"
    poolings = ("max", "mean", "sum")
    default_pooling = "max"
    #: augmentations :meth:`embed_augmented` implements (see :mod:`molstrata.analysis.augment`)
    augmentations = ("atom_mask",)
    #: fraction of atoms one masked view hides (Hu et al. 2020)
    atom_mask_fraction: float = 0.15
    #: also zero the features of the bonds touching a masked atom
    atom_mask_bonds: bool = False

    def __init__(self, net: Any, *, weights_sha256: str, weights_path: str, device: str,
                 random_init: bool = False, seed: int = 0):  # fmt: skip
        self.net = net.eval().to(device)
        self.num_layers = int(net.depth)
        self.device = device
        self.weights_sha256 = weights_sha256
        self.weights_path = weights_path
        self.random_init = random_init
        self.seed = seed

    @property
    def dims(self) -> list[int]:
        """Output dim of each of the ``num_layers + 1`` layers."""
        return list(self.net.dims)

    def _size(self, smiles: str) -> int:
        return sum(c.isalpha() for c in smiles)  # ~ heavy atoms, for size bucketing

    def featurize(self, smiles: Sequence[str]) -> list[Any]:
        """Featurised graphs (:class:`~.minimol_featurize.MolGraph`) of canonical ``smiles``."""
        graphs = []
        for i, s in enumerate(smiles):
            try:
                graphs.append(_graph(s))
            except ValueError as exc:
                raise InvalidSmilesError([i], [s], source=f"MiniMol featuriser: {exc}") from exc
        return graphs

    def _forward(self, smiles: list[str]) -> BatchStates:
        return self._run(self.featurize(smiles))

    def _run(self, graphs: list[Any]) -> BatchStates:
        """Every layer's node states of featurised ``graphs``, densified per molecule."""
        from torch_geometric.utils import to_dense_batch

        inputs = collate(graphs, device=self.device)
        nodes = self.net(**inputs)  # depth + 1 tensors (N, d_k)
        hidden, mask = [], None
        for h in nodes:
            dense, m = to_dense_batch(
                h, inputs["batch"], batch_size=inputs["num_graphs"]
            )  # B, T, d
            hidden.append(dense)
            mask = m
        return BatchStates(hidden=hidden, mask=mask, special=None, cls_index=0)

    def embed_augmented(
        self, smiles: list[str], *, kind: str = "atom_mask", seed: int = 0,
        pooling: str | None = None, fraction: float | None = None,
        mask_bonds: bool | None = None, batch_size: int | None = None,
    ) -> Any:
        """One atom-masked view of every molecule, pooled per layer (the augmentation hook).

        MiniMol was not pretrained with masking and has no mask token: the 85 node features
        of the masked atoms (:func:`~.graph_features.masked_atoms` of ``(n_atoms_i, fraction,
        seed, i)``, ``i`` the molecule's position in ``smiles``) are set to zero, and with
        ``mask_bonds`` the 13 edge features of their bonds. The positional encodings
        (Laplacian eigenvectors, random-walk probabilities) describe the graph's structure,
        which masking keeps, so they are left as they are. ``fraction=0`` gives :meth:`embed`.

        Returns
        -------
        LayerEmbeddings with 17 arrays of shape (n_molecules, dim_k), rows in input order.
        """
        import dataclasses

        from molstrata.encoders.graph.graph_features import (
            atom_mask_settings,
            embed_atom_masked,
            mask_arrays,
            masked_atoms,
        )

        frac, bonds = atom_mask_settings(self, kind, fraction, mask_bonds, seed)

        def forward_rows(strings: list[str], rows: list[int]) -> BatchStates:
            graphs = []
            for g, r in zip(self.featurize(strings), rows, strict=True):
                atoms = masked_atoms(g.num_nodes, fraction=frac, seed=seed, index=r)
                if len(atoms):  # the featurised graphs are cached: copy, never edit
                    x, edge_attr = mask_arrays(g.x, g.edge_attr, g.edge_index, atoms, mask_bonds=bonds)
                    g = dataclasses.replace(g, x=x, edge_attr=edge_attr)
                graphs.append(g)
            return self._run(graphs)

        return embed_atom_masked(
            self, smiles, forward_rows, pooling=pooling, batch_size=batch_size,
            meta={"seed": int(seed), "fraction": frac, "mask_bonds": bonds},
        )

    def identity(self) -> dict[str, Any]:
        return {
            "name": self.name, "class": type(self).__name__, "num_layers": self.num_layers,
            "weights_sha256": self.weights_sha256, "random_init": self.random_init,
            "seed": self.seed if self.random_init else None, "featurizer": "graphium-2.4.7-minimol_v1",
            "max_length": None, "eigvec_signs": _lapack_signature(),
        }  # fmt: skip

    def truncate(self, n_layers: int) -> MiniMolEncoder:
        """A copy with only GNN layers 0..n_layers-1 (``embed`` gives ``n_layers + 1`` arrays)."""
        from molstrata.encoders.graph.minimol_net import MiniMolNet

        if not 1 <= int(n_layers) <= self.num_layers:
            raise ConfigError(
                f"n_layers must be in 1..{self.num_layers} for {self.name!r}, got {n_layers}"
            )
        net = MiniMolNet(depth=int(n_layers))
        net.load_state_dict(
            {k: v for k, v in self.net.state_dict().items() if k in net.state_dict()}
        )
        return MiniMolEncoder(net, weights_sha256=self.weights_sha256, weights_path=self.weights_path,
                              device=self.device, random_init=self.random_init, seed=self.seed)  # fmt: skip

    @property
    def module(self) -> Any:
        """The :class:`~.minimol_net.MiniMolNet` (``forward(**collate(graphs))`` → node states)."""
        return self.net


def load_minimol(
    *,
    device: str | None = None,
    max_layer: int | None = None,
    random_init: bool = False,
    trust_remote_code: bool = False,
    weights_dir: str | os.PathLike | None = None,
    download: bool = True,
    seed: int = 0,
    on_too_long: str = "warn",
    max_length: int | None = None,
    **options: Any,
) -> MiniMolEncoder:
    """Load MiniMol v1 with every GNN layer.

    Parameters
    ----------
    device : ``"cpu"``, ``"cuda"``...; default CUDA when available
    max_layer : keep GNN layers 0..max_layer-1 only (1..16); default all 16
    random_init : same architecture with freshly initialised weights (seeded by ``seed``);
        no weights are read
    trust_remote_code : unused (MiniMol runs no code from its checkpoint)
    weights_dir : folder with ``state_dict.pth`` and ``config.yaml`` (else see module docs)
    download : allow the hash-checked download of the minimol wheel when nothing is local
    seed : seed of ``random_init``
    on_too_long : accepted for a uniform CLI; MiniMol has no input length limit
    max_length : must stay ``None`` (MiniMol has no input length limit)
    """
    from molstrata.core.errors import check_choice

    if options:
        raise ConfigError(
            f"unknown option(s) for 'minimol': {', '.join(sorted(options))}; "
            "valid: device, max_layer, random_init, weights_dir, download, seed, on_too_long"
        )
    check_choice("on_too_long", on_too_long, ("warn", "raise"))
    if max_length is not None:
        raise ConfigError("max_length does not apply to 'minimol': it has no input length limit")
    import torch

    from molstrata.encoders.graph.minimol_net import MiniMolNet

    depth = NUM_LAYERS if max_layer is None else int(max_layer)
    if not 1 <= depth <= NUM_LAYERS:
        raise ConfigError(f"max_layer must be in 1..{NUM_LAYERS} for 'minimol', got {max_layer}")
    device = resolve_device(device)
    if random_init:
        torch.manual_seed(seed)
        net = MiniMolNet(depth=depth)
        return MiniMolEncoder(net, weights_sha256="random", weights_path="", device=device,
                              random_init=True, seed=seed)  # fmt: skip
    folder, _ = find_weights(weights_dir, download=download)
    _check_config(folder / "config.yaml")
    sd_path = folder / "state_dict.pth"
    digest = file_sha256(sd_path)
    if digest != STATE_DICT_SHA256:
        warnings.warn(
            f"{sd_path} is not the MiniMol v1 checkpoint that molstrata verified (sha256 {digest[:12]}…); "
            "its layers are not checked against the reference",
            stacklevel=2,
        )
    net = MiniMolNet(depth=depth)
    state = _load_state_dict(sd_path)
    wanted = net.state_dict()
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise ConfigError(
            f"{sd_path} lacks {len(missing)} tensors MiniMol needs, e.g. {missing[:3]}"
        )
    for k in wanted:
        if tuple(state[k].shape) != tuple(wanted[k].shape):
            raise ConfigError(
                f"{sd_path}: {k} has shape {tuple(state[k].shape)}, expected {tuple(wanted[k].shape)}"
            )
    net.load_state_dict({k: state[k].float() for k in wanted}, strict=True)
    return MiniMolEncoder(net, weights_sha256=digest, weights_path=str(sd_path), device=device)


def minimol_card() -> EncoderCard:
    """MiniMol's model card; ``weights_present`` says whether weights are found offline."""
    try:
        find_weights(download=False)
        present = True
    except DataNotFoundError:
        present = False
    return EncoderCard(
        name="minimol",
        kind="graph",
        num_layers=NUM_LAYERS,
        dims=DIMS,
        description=(
            "MiniMol v1: 16-layer GINE GNN with a log-sum virtual node, Laplacian (DeepSet) and "
            "random-walk positional encodings; 7.9M parameters up to the last GNN layer. Layer 0 is the 128-d node "
            "embedding before the GNN; layer k is GNN layer k-1 (336-d; 512-d for the last, "
            "MiniMol's fingerprint). Default pooling: max over heavy atoms, as MiniMol does."
        ),
        source=(
            "graphcore-research/minimol 1.3.5 (arXiv:2404.14986); architecture re-implemented "
            "from graphium 2.4.7 in torch/torch_geometric, original state_dict.pth loaded"
        ),
        weights="minimol wheel: minimol/ckpts/minimol_v1/state_dict.pth (sha256 a3061e1c…)",
        how_to_get_weights=INSTALL_HINT,
        verified=(
            "all 16 GNN layers, max and mean pooling, against the official minimol 1.3.5 + graphium "
            "2.4.7 stack on 48 caco2_wang test molecules (../shared/fixtures/minimol), tolerance "
            "1e-4 per molecule (tests/encoders/test_minimol.py). On the build machine 11 match as "
            "they come, 22 more once Laplacian eigenvector signs are flipped to the reference's "
            "(worst layer diff then 1.1e-5), and the remaining 15 are exactly those with a "
            "degenerate Laplacian spectrum. The featuriser is bitwise identical to graphium's code."
        ),
        license="MIT (minimol code and weights, Graphcore); graphium featurisation Apache-2.0",
        trained_on=(
            "LINCS L1000 (VCAP, MCF7), PCBA-1328, PCQM4M-G25/N4 (graphium's LargeMix); "
            "not trained on TDC ADMET labels (its pretraining molecules may overlap TDC's)"
        ),
        warnings=[
            "Laplacian eigenvector signs (and bases of degenerate eigenspaces) come from LAPACK and "
            "differ between BLAS builds and CPU kernels; MiniMol is not sign-invariant, so the same "
            "molecule can embed differently on two machines (up to ~0.1 on sign flips, ~0.9 on "
            "degenerate spectra, max pooling, last layer). molstrata reproduces graphium's call "
            "exactly, and keys its cache on this machine's eigenvector signs.",
        ],
        extra="minimol",
        weights_present=present,
    )
