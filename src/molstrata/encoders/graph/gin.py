"""A GINE graph encoder (Hu et al. 2020 GIN with edge features) and its ``Encoder`` adapter.

Layers: layer 0 is the atom embedding after the input projection; layer k (1..num_layers) is
the node state after message-passing block k. Each block is
``h <- h + dropout(relu(LayerNorm(GINEConv(h, edges))))``. Node states are pooled per molecule
with ``mean``, ``sum`` or ``max`` (``cls`` does not exist for graphs).

Atom masking (the ``"atom_mask"`` augmentation of :mod:`molstrata.analysis.augment`):
:meth:`GraphEncoder.embed_augmented` hides a seeded fraction of the atoms (15% by default,
at least one; Hu et al. 2020 attribute masking) and, optionally, the bonds touching them.
The built-in GINE was pretrained by descriptor regression, without masking, so it has no
mask token: a masked atom's one-hot feature row is set to zero, which makes its layer-0
embedding ``input_proj.bias``, the same "blank atom" vector for every masked atom; a masked
bond's feature row is zeroed likewise. The graph (atoms and bonds) is unchanged, so a
masked view is a related but different input, as Hu et al.'s mask token makes it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from molstrata.core.device import resolve_device
from molstrata.core.embeddings import LayerEmbeddings
from molstrata.core.errors import ConfigError, DataNotFoundError
from molstrata.encoders.base import BatchStates, Encoder
from molstrata.encoders.graph.graph_features import (
    ATOM_DIM,
    ATOM_MASK_FRACTION,
    BOND_DIM,
    atom_mask_settings,
    batch_graphs,
    embed_atom_masked,
    mask_graph,
    masked_atoms,
    smiles_to_graph,
)


class GINE(nn.Module):
    """Stack of ``num_layers`` GINEConv blocks over one-hot atom/bond features.

    Parameters
    ----------
    atom_dim, bond_dim : input feature sizes (``graph_features.ATOM_DIM``/``BOND_DIM``)
    hidden : hidden_dim of every layer
    num_layers : message-passing blocks
    dropout : dropout after each block (training only)
    """

    def __init__(self, atom_dim: int = ATOM_DIM, bond_dim: int = BOND_DIM, hidden: int = 256,
                 num_layers: int = 5, dropout: float = 0.0) -> None:
        from torch_geometric.nn import GINEConv

        super().__init__()
        self.config = {"atom_dim": atom_dim, "bond_dim": bond_dim, "hidden": hidden,
                       "num_layers": num_layers, "dropout": dropout}
        self.input_proj = nn.Linear(atom_dim, hidden)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(num_layers):
            mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
            self.convs.append(GINEConv(mlp, train_eps=True, edge_dim=bond_dim))
            self.norms.append(nn.LayerNorm(hidden))
        self.dropout = nn.Dropout(dropout)

    @property
    def num_layers(self) -> int:
        return len(self.convs)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> list[torch.Tensor]:
        """Node states of every layer: list of num_layers + 1 tensors (n_atoms, hidden)."""
        h = self.input_proj(x)
        states = [h]
        for conv, norm in zip(self.convs, self.norms, strict=False):
            h = h + self.dropout(torch.relu(norm(conv(h, edge_index, edge_attr))))
            states.append(h)
        return states

    def truncated(self, n_layers: int) -> GINE:
        """A deep copy keeping only the first ``n_layers`` blocks."""
        if not 0 <= n_layers <= self.num_layers:
            raise ConfigError(f"n_layers must be in 0..{self.num_layers}, got {n_layers}")
        new = copy.deepcopy(self)
        new.convs = nn.ModuleList(list(new.convs)[:n_layers])
        new.norms = nn.ModuleList(list(new.norms)[:n_layers])
        new.config = {**new.config, "num_layers": n_layers}
        return new


def load_gine(folder: str | Path, *, random_init: bool = False, seed: int = 0) -> tuple[GINE, dict]:
    """Build a :class:`GINE` from ``folder/config.json`` and load ``folder/model.safetensors``.

    With ``random_init`` the weights file is not read: same architecture, weights drawn with
    ``torch.manual_seed(seed)``.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise DataNotFoundError(f"graph encoder config not found: {cfg_path}")
    meta = json.loads(cfg_path.read_text())
    arch = {k: meta[k] for k in ("atom_dim", "bond_dim", "hidden", "num_layers")}
    torch.manual_seed(seed)
    model = GINE(**arch)
    if not random_init:
        wpath = folder / "model.safetensors"
        if not wpath.is_file():
            raise DataNotFoundError(f"graph encoder weights not found: {wpath}")
        model.load_state_dict(load_file(str(wpath)))
    model.eval()
    return model, meta


def _state_hash(model: nn.Module) -> str:
    return _arrays_hash({k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()})


def _arrays_hash(arrays: dict[str, Any]) -> str:
    """sha256 (16 hex) of named arrays: each name, then its bytes, in name order."""
    h = hashlib.sha256()
    for k, v in sorted(arrays.items()):
        h.update(k.encode())
        h.update(v.tobytes())
    return h.hexdigest()[:16]


def weights_hash(folder: str | Path, n_layers: int) -> str | None:
    """The weights hash of ``load_gine(folder)`` truncated to ``n_layers`` blocks, read from
    ``folder/model.safetensors`` without building the network (no ``torch_geometric``
    import); None when the file holds other than float32 tensors (build it to know)."""
    import re

    from safetensors.numpy import load_file

    block = re.compile(r"(convs|norms)\.(\d+)\.")
    arrays = {}
    for k, v in load_file(str(Path(folder) / "model.safetensors")).items():
        if v.dtype != "float32":
            return None
        m = block.match(k)
        if m is None or int(m.group(2)) < n_layers:
            arrays[k] = v
    return _arrays_hash(arrays)


class GraphEncoder(Encoder):
    """``Encoder`` adapter around a :class:`GINE`: per layer, atom states pooled per molecule."""

    poolings = ("mean", "max", "sum")
    default_pooling = "mean"
    #: augmentations :meth:`embed_augmented` implements (see :mod:`molstrata.analysis.augment`)
    augmentations = ("atom_mask",)
    #: fraction of atoms one masked view hides
    atom_mask_fraction: float = ATOM_MASK_FRACTION
    #: also zero the features of the bonds touching a masked atom
    atom_mask_bonds: bool = False

    def __init__(self, model: GINE | Callable[[], GINE], *, name: str = "gine", device: str | None = None,
                 random_init: bool = False, seed: int = 0, num_layers: int | None = None,
                 weights_sha: str | None = None) -> None:
        self.name = name
        self.device = torch.device(resolve_device(device))
        self.random_init = random_init
        self.seed = seed
        if isinstance(model, nn.Module):
            self._net: GINE | None = model.eval().to(self.device)
            self._build: Callable[[], GINE] | None = None
            self.num_layers = model.num_layers
            self._hash = _state_hash(model)
        else:  # built on first use (a run whose embeddings are all cached never builds it)
            if num_layers is None or weights_sha is None:
                raise ConfigError("a GraphEncoder built on first use needs num_layers and weights_sha")
            self._net, self._build = None, model
            self.num_layers, self._hash = int(num_layers), weights_sha

    @property
    def _model(self) -> GINE:
        """The network, built now if it was deferred (its weights must hash to the identity)."""
        if self._net is None:
            assert self._build is not None
            net = self._build().eval()
            if _state_hash(net) != self._hash or net.num_layers != self.num_layers:
                raise ConfigError(f"encoder {self.name!r}: its weights changed on disk since it was loaded")
            self._net = net.to(self.device)
        return self._net

    def _size(self, smiles: str) -> int:
        return len(smiles)

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "num_layers": self.num_layers, "class": type(self).__name__,
                "weights_sha": self._hash, "random_init": self.random_init, "seed": self.seed}

    def _forward(self, smiles: list[str]) -> BatchStates:
        return self._run(batch_graphs(smiles), len(smiles))

    def _run(self, batch: Any, n_molecules: int) -> BatchStates:
        """Every layer's node states of a ``torch_geometric`` batch, densified per molecule."""
        from torch_geometric.utils import to_dense_batch

        batch = batch.to(self.device)
        states = self._model(batch.x, batch.edge_index, batch.edge_attr)
        hidden = []
        mask = None
        for h in states:
            dense, m = to_dense_batch(h, batch.batch, batch_size=n_molecules)
            hidden.append(dense)
            mask = m
        return BatchStates(hidden=hidden, mask=mask, special=None, cls_index=0,
                           info={"n_atoms": int(batch.num_nodes)})

    def embed_augmented(
        self,
        smiles: list[str],
        *,
        kind: str = "atom_mask",
        seed: int = 0,
        pooling: str | None = None,
        fraction: float | None = None,
        mask_bonds: bool | None = None,
        batch_size: int | None = None,
    ) -> LayerEmbeddings:
        """One atom-masked view of every molecule, pooled per layer (the augmentation hook).

        Molecule ``i`` (its position in ``smiles``) gets the atoms of
        :func:`~molstrata.encoders.graph.graph_features.masked_atoms` ``(n_atoms_i, fraction, seed, i)``
        masked: their one-hot features zeroed (this GINE has no mask token; see the module
        docstring), and with ``mask_bonds`` the features of their bonds too. The view depends
        only on ``(seed, i)``, not on batching; ``fraction=0`` gives exactly :meth:`embed`.

        Parameters
        ----------
        smiles : list of n_molecules valid SMILES (invalid ones raise, naming the row)
        kind : must be ``"atom_mask"``
        seed : non-negative view seed
        pooling : ``mean`` / ``sum`` / ``max`` (default :attr:`default_pooling`)
        fraction : fraction of atoms masked (default :attr:`atom_mask_fraction`)
        mask_bonds : also mask bonds (default :attr:`atom_mask_bonds`)
        batch_size : at most this many molecules per forward pass

        Returns
        -------
        LayerEmbeddings with ``num_layers + 1`` arrays of shape (n_molecules, hidden), rows in
        input order; ``meta`` records ``augmentation``, ``seed``, ``fraction`` and ``mask_bonds``.
        """
        frac, bonds = atom_mask_settings(self, kind, fraction, mask_bonds, seed)

        def forward_rows(strings: list[str], rows: list[int]) -> BatchStates:
            from torch_geometric.data import Batch

            graphs = []
            for s, r in zip(strings, rows, strict=True):
                g = smiles_to_graph(s, r)
                atoms = masked_atoms(g.num_nodes, fraction=frac, seed=seed, index=r)
                graphs.append(mask_graph(g, atoms, mask_bonds=bonds))
            return self._run(Batch.from_data_list(graphs), len(strings))

        return embed_atom_masked(
            self, smiles, forward_rows, pooling=pooling, batch_size=batch_size,
            meta={"seed": int(seed), "fraction": frac, "mask_bonds": bonds},
        )

    def truncate(self, n_layers: int) -> GraphEncoder:
        """A copy keeping only the first ``n_layers`` message-passing blocks."""
        return GraphEncoder(self._model.truncated(n_layers), name=self.name,
                            device=str(self.device), random_init=self.random_init, seed=self.seed)

    @property
    def module(self) -> GINE:
        """The underlying :class:`GINE` (``forward`` returns every layer's node states)."""
        return self._model
