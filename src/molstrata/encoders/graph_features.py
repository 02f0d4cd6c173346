"""RDKit molecule → torch_geometric graph: one-hot atom and bond features.

Atom features (``ATOM_DIM`` columns): element (common organic/drug elements + "other"),
degree, formal charge, total H count, hybridisation, aromaticity, ring membership and
chirality tag. Bond features (``BOND_DIM`` columns): bond type, conjugation, ring membership
and stereo. Every categorical has an "other" slot, so unseen values never fail.
"""

from __future__ import annotations

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


def batch_graphs(smiles: list[str]) -> Any:
    """One ``torch_geometric.data.Batch`` of the molecules in ``smiles`` (in order)."""
    from torch_geometric.data import Batch

    return Batch.from_data_list([smiles_to_graph(s, i) for i, s in enumerate(smiles)])
