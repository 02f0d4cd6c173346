"""RDKit molecule → torch_geometric graph: one-hot atom and bond features.

Atom features (``ATOM_DIM`` columns): element (common organic/drug elements + "other"),
degree, formal charge, total H count, hybridisation, aromaticity, ring membership and
chirality tag. Bond features (``BOND_DIM`` columns): bond type, conjugation, ring membership
and stereo. Every categorical has an "other" slot, so unseen values never fail.

Atom masking (the analysis' ``"atom_mask"`` augmentation, shared by the graph encoders):
:func:`masked_atoms` draws the atoms one view hides, seeded by (view seed, molecule index);
:func:`mask_graph` zeroes their features (and optionally their bonds'); and
:func:`embed_atom_masked` runs an encoder's masked forward over the same batches as
``Encoder.embed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from molstrata.core.errors import InvalidSmilesError

ELEMENTS = [1, 5, 6, 7, 8, 9, 11, 14, 15, 16, 17, 19, 34, 35, 53]  # H B C N O F Na Si P S Cl K Se Br I
DEGREES = [0, 1, 2, 3, 4, 5]
CHARGES = [-2, -1, 0, 1, 2]
NUM_HS = [0, 1, 2, 3, 4]
HYBRIDISATIONS = ["S", "SP", "SP2", "SP3", "SP3D", "SP3D2"]
CHIRAL = ["CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW"]
BOND_TYPES = ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]
BOND_STEREO = ["STEREONONE", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS", "STEREOANY"]


def _onehot(value: Any, choices: list) -> list[float]:
    """One-hot over ``choices`` plus a final "other" slot."""
    out = [0.0] * (len(choices) + 1)
    try:
        out[choices.index(value)] = 1.0
    except ValueError:
        out[-1] = 1.0
    return out


ATOM_DIM = (len(ELEMENTS) + 1 + len(DEGREES) + 1 + len(CHARGES) + 1 + len(NUM_HS) + 1
            + len(HYBRIDISATIONS) + 1 + 2 + len(CHIRAL) + 1)
BOND_DIM = len(BOND_TYPES) + 1 + 2 + len(BOND_STEREO) + 1


def atom_features(atom: Any) -> list[float]:
    """``ATOM_DIM`` one-hot/binary features of one RDKit atom."""
    return (
        _onehot(atom.GetAtomicNum(), ELEMENTS)
        + _onehot(atom.GetTotalDegree(), DEGREES)
        + _onehot(atom.GetFormalCharge(), CHARGES)
        + _onehot(atom.GetTotalNumHs(), NUM_HS)
        + _onehot(str(atom.GetHybridization()), HYBRIDISATIONS)
        + [float(atom.GetIsAromatic()), float(atom.IsInRing())]
        + _onehot(str(atom.GetChiralTag()), CHIRAL)
    )


def bond_features(bond: Any) -> list[float]:
    """``BOND_DIM`` one-hot/binary features of one RDKit bond."""
    return (
        _onehot(str(bond.GetBondType()), BOND_TYPES)
        + [float(bond.GetIsConjugated()), float(bond.IsInRing())]
        + _onehot(str(bond.GetStereo()), BOND_STEREO)
    )


def smiles_to_graph(smiles: str, index: int | None = None) -> Any:
    """A ``torch_geometric.data.Data`` with ``x`` (n_atoms, ATOM_DIM), ``edge_index`` (2, 2·n_bonds)
    and ``edge_attr`` (2·n_bonds, BOND_DIM); both directions of every bond.

    Raises :class:`InvalidSmilesError` (naming ``index`` when given) if RDKit rejects it.
    """
    import torch
    from rdkit import Chem
    from torch_geometric.data import Data

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise InvalidSmilesError([index if index is not None else 0], [smiles])
    x = np.array([atom_features(a) for a in mol.GetAtoms()], dtype=np.float32).reshape(-1, ATOM_DIM)
    src, dst, attrs = [], [], []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        f = bond_features(b)
        src += [i, j]
        dst += [j, i]
        attrs += [f, f]
    edge_index = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
    edge_attr = torch.tensor(np.array(attrs, dtype=np.float32).reshape(-1, BOND_DIM))
    return Data(x=torch.from_numpy(x), edge_index=edge_index, edge_attr=edge_attr)


@lru_cache(maxsize=16384)
def _cached_graph(smiles: str) -> Any:
    """:func:`smiles_to_graph` with a cache (a few kB a molecule), so that finetuning and
    pretraining epochs featurise each molecule once. The graphs are shared: never modify them
    in place (``Batch.from_data_list`` copies)."""
    return smiles_to_graph(smiles)


def batch_graphs(smiles: list[str]) -> Any:
    """One ``torch_geometric.data.Batch`` of the molecules in ``smiles`` (in order).

    Raises :class:`InvalidSmilesError` naming the position in ``smiles`` of a molecule RDKit
    rejects.
    """
    from torch_geometric.data import Batch

    graphs = []
    for i, s in enumerate(smiles):
        try:
            graphs.append(_cached_graph(s))
        except InvalidSmilesError:
            raise InvalidSmilesError([i], [s]) from None
    return Batch.from_data_list(graphs)


# ----------------------------------------------------------------------------- atom masking
#: default fraction of atoms masked per view (Hu et al. 2020, "Strategies for Pre-training
#: Graph Neural Networks", attribute masking)
ATOM_MASK_FRACTION = 0.15


def masked_atoms(n_atoms: int, *, fraction: float, seed: int, index: int) -> np.ndarray:
    """The atoms one atom-masking view hides in molecule ``index``.

    As Hu et al.'s ``MaskAtom``, ``int(n_atoms * fraction + 1)`` atoms are drawn without
    replacement (so at least one atom is masked whenever ``fraction > 0``; at most all of
    them), from a generator seeded by ``(seed, index)`` alone: the choice does not depend on
    batching or on the other molecules. ``fraction == 0`` masks nothing.

    Parameters
    ----------
    n_atoms : atoms in the featurised graph
    fraction : in [0, 1]
    seed : non-negative view seed
    index : non-negative molecule index (row in the caller's input)

    Returns
    -------
    ndarray of int64, shape (n_masked,), sorted atom indices.
    """
    from molstrata.core.errors import ConfigError

    if not 0.0 <= float(fraction) <= 1.0:
        raise ConfigError(f"atom mask fraction must be in [0, 1], got {fraction}")
    if int(seed) < 0 or int(index) < 0:
        raise ConfigError(f"atom masking needs a non-negative seed and index, got seed={seed}, index={index}")
    if fraction == 0 or n_atoms == 0:
        return np.zeros(0, dtype=np.int64)
    k = min(int(n_atoms), int(n_atoms * float(fraction) + 1))
    rng = np.random.default_rng([int(seed), int(index)])
    return np.sort(rng.choice(int(n_atoms), size=k, replace=False)).astype(np.int64)


def atom_mask_settings(encoder: Any, kind: str, fraction: float | None, mask_bonds: bool | None,
                       seed: int) -> tuple[float, bool]:
    """Check an ``embed_augmented`` request and resolve its settings, before any work.

    ``kind`` must be one of ``encoder.augmentations``; ``fraction`` / ``mask_bonds`` default to
    the encoder's ``atom_mask_fraction`` / ``atom_mask_bonds``. Returns ``(fraction, mask_bonds)``.
    """
    from molstrata.core.errors import check_choice

    check_choice("augmentation", kind, encoder.augmentations)
    frac = encoder.atom_mask_fraction if fraction is None else float(fraction)
    bonds = encoder.atom_mask_bonds if mask_bonds is None else bool(mask_bonds)
    masked_atoms(1, fraction=frac, seed=seed, index=0)  # validates fraction and seed
    return frac, bonds


def edges_touching(edge_index: Any, atoms: np.ndarray) -> np.ndarray:
    """Boolean mask, shape (n_edges,): directed edges with a source or target in ``atoms``.

    ``edge_index`` is (2, n_edges), a numpy array or a torch tensor.
    """
    ei = edge_index.cpu().numpy() if hasattr(edge_index, "cpu") else np.asarray(edge_index)
    if ei.size == 0 or len(atoms) == 0:
        return np.zeros(ei.shape[-1] if ei.ndim == 2 else 0, dtype=bool)
    return np.isin(ei[0], atoms) | np.isin(ei[1], atoms)


def mask_arrays(x: np.ndarray, edge_attr: np.ndarray, edge_index: Any, atoms: np.ndarray, *,
                mask_bonds: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Atom features ``x`` (n_atoms, d_v) with the rows of ``atoms`` set to 0 and, with
    ``mask_bonds``, bond features ``edge_attr`` (n_edges, d_e) with every edge touching them
    set to 0: the numpy form of :func:`mask_graph`. Arrays that change are copies (featurised
    graphs may be cached); ``edge_attr`` comes back as given when the bonds are kept."""
    x = x.copy()
    x[atoms] = 0
    if mask_bonds:
        edge_attr = edge_attr.copy()
        edge_attr[edges_touching(edge_index, atoms)] = 0
    return x, edge_attr


def mask_graph(graph: Any, atoms: np.ndarray, *, mask_bonds: bool = False) -> Any:
    """A copy of a :func:`smiles_to_graph` graph with the rows of ``atoms`` in ``x`` set to 0
    and, with ``mask_bonds``, the ``edge_attr`` rows of every bond touching them set to 0.

    The input graph is not modified.
    """
    g = graph.clone()
    if len(atoms):
        g.x[atoms] = 0.0
        if mask_bonds:
            import torch

            g.edge_attr[torch.from_numpy(edges_touching(g.edge_index, atoms))] = 0.0
    return g


def embed_atom_masked(
    encoder: Any,
    smiles: Sequence[str],
    forward_rows: Callable[[list[str], list[int]], Any],
    *,
    pooling: Any = None,
    batch_size: int | None = None,
    meta: dict[str, Any] | None = None,
) -> Any:
    """Pooled embeddings of one atom-masked view, batched exactly as ``encoder.embed``.

    The shared half of the ``embed_augmented`` hook of graph encoders: it parses and
    canonicalises ``smiles`` (invalid SMILES raise, naming their rows), then runs
    ``forward_rows(strings, rows)`` over the same size-bucketed batches as
    :meth:`~molstrata.encoders.base.Encoder.embed`, where ``rows`` are the input positions
    of ``strings``, so each encoder can seed its masks by molecule index. With nothing
    masked the result therefore equals ``encoder.embed``.

    Parameters
    ----------
    encoder : the graph encoder (supplies ``name``, pooling checks and batch sizes)
    smiles : sequence of n_molecules valid SMILES
    forward_rows : ``(strings, rows) -> BatchStates`` of the masked graphs
    pooling : pooling name (the encoder's default when ``None``)
    batch_size : at most this many molecules per forward pass
    meta : extra facts for ``LayerEmbeddings.meta`` (the masking parameters)

    Returns
    -------
    LayerEmbeddings with ``num_layers + 1`` arrays of shape (n_molecules, dim_k), float32.
    """
    from molstrata.core.embeddings import LayerEmbeddings
    from molstrata.data.smiles import parse_smiles
    from molstrata.encoders.flow import embed_canonical

    method = encoder._check_pooling(pooling)
    parsed = parse_smiles(list(smiles), on_invalid="raise")
    fed = encoder.fed_strings(parsed, canonicalize=True)
    if not fed:
        plain = encoder.embed([], pooling=method)
        layers = list(plain.layers)
    else:
        proxy = _RowForward(encoder, fed, forward_rows)
        layers, _ = embed_canonical(proxy, list(range(len(fed))), pooling=method,
                                    batch_size=batch_size, progress=False)
    return LayerEmbeddings(
        layers=tuple(layers), valid=parsed.valid, smiles=parsed.smiles, encoder=encoder.name,
        pooling=method.value,
        meta={"augmentation": "atom_mask", **(meta or {}), "identity": encoder.identity()},
    )


class _RowForward:
    """Stands in for an encoder in :func:`~molstrata.encoders.flow.embed_canonical`:
    the "molecules" it is given are row numbers, so its ``_forward`` knows which input rows
    each batch holds, while sizes and batch caps are the real encoder's."""

    def __init__(self, encoder: Any, fed: list[str], forward_rows: Callable[[list[str], list[int]], Any]):
        self.name = encoder.name
        self.max_batch_size = encoder.max_batch_size
        self.token_budget = encoder.token_budget
        self._fed = fed
        self._size_of = np.asarray(encoder._sizes(fed), dtype=np.int64)
        self._forward_rows = forward_rows
        self._encoder = encoder

    @property
    def module(self) -> Any:
        """The real encoder's module (the flow evens out its linear layers' row counts as
        for a plain embedding: :func:`molstrata.encoders._rows.min_rows`)."""
        return self._encoder.module

    def _sizes(self, rows: list[int]) -> np.ndarray:
        return self._size_of[np.asarray(rows, dtype=np.int64)]

    def _forward(self, rows: list[int]) -> Any:
        rows = [int(r) for r in rows]
        return self._forward_rows([self._fed[r] for r in rows], rows)
