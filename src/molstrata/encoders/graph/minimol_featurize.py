"""MiniMol v1 featurisation, re-implemented without graphium.

This reproduces what graphium 2.4.7 computes for the MiniMol v1 checkpoint
(``config.yaml`` → ``datamodule.args.featurization``), value for value:

* atoms are renumbered by RDKit's canonical atom ranks (datamol's ``to_mol(ordered=True)``),
  so the graph does not depend on how the SMILES was written; hydrogens stay implicit;
* node features (85): 5 floats (total degree − 2, formal charge, radical electrons,
  aromatic, in ring), then one-hots of the element symbol (43 + other), periodic-table
  group (19 + other), period (7 + other) and total valence (0..6 + other);
* edge features (13) for both directions of each bond: bond type (4 + other),
  stereo (6 + other), in ring;
* positional encodings: the 8 lowest eigenpairs of the combinatorial Laplacian ``D - A``
  per connected component (``scipy.linalg.eig``, as graphium does; padded with zeros
  when a component has fewer than 8 atoms) and 16-step random-walk return probabilities.

graphium stores every feature in float16, and so do we (rounding float64 → float32 →
float16 in the same order): a feature one float16 step away moves deep layers by more
than the 1e-4 tolerance the adapter is held to. The arrays are cast to float32 when
batched, as MiniMol's ``to_fp32`` does.

Laplacian eigenvectors are defined only up to sign, and up to a rotation inside a
degenerate eigenspace. We call the same LAPACK routine on the same matrix in the same
atom order as graphium, so signs agree; :attr:`MolGraph.eig_gap` says how close the
spectrum comes to a degeneracy that makes the basis ill-defined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rdkit import Chem

NUM_EIG = 8
RW_STEPS = 16
NODE_DIM = 85
EDGE_DIM = 13

# graphium.features.nmp (2.4.7): the element symbols with their own one-hot slot.
ATOM_LIST = (
    "C", "N", "O", "S", "F", "Si", "P", "Cl", "Br", "Mg", "Na", "Ca", "Fe", "As", "Al", "I",
    "B", "V", "K", "Tl", "Yb", "Sb", "Sn", "Ag", "Pd", "Co", "Se", "Ti", "Zn", "H", "Li",
    "Ge", "Cu", "Au", "Ni", "Cd", "In", "Mn", "Zr", "Cr", "Pt", "Hg", "Pb",
)  # fmt: skip
_ATOM_INDEX = {s: i for i, s in enumerate(ATOM_LIST)}
# Periodic-table group and period of elements 1..118 (graphium's periodic_table.csv; the
# lanthanides and actinides without a group get 19). Indexed by atomic number - 1, so the
# dummy atom (Z = 0) reads the last entry, as graphium's list indexing does.
_GROUP = (
    "1 18 1 2 13 14 15 16 17 18 1 2 13 14 15 16 17 18 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 "
    "17 18 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 1 2 3 "
    + "19 " * 14
    + "4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 1 2 3 "
    + "19 " * 14
    + "4 5 6 7 8 9 10 11 12 13 14 15 16 17 18"
)
GROUP = tuple(int(g) for g in _GROUP.split())
PERIOD = tuple([1] * 2 + [2] * 8 + [3] * 8 + [4] * 18 + [5] * 18 + [6] * 32 + [7] * 32)
VALENCE = (0, 1, 2, 3, 4, 5, 6)


@dataclass(frozen=True)
class MolGraph:
    """One featurised molecule (n = number of heavy atoms, m = number of bonds).

    Attributes
    ----------
    x : ndarray of float16, (n, 85)
        Atom features (all float arrays hold graphium's float16 values).
    edge_index : ndarray of int64, (2, 2m)
        Both directions of each bond, bond by bond (``[i→j, j→i, ...]``).
    edge_attr : ndarray of float16, (2m, 13)
    eigvecs, eigvals : ndarray of float16, (n, 8)
        Laplacian eigenvectors, and the matching eigenvalues repeated on each atom of
        the component.
    rw : ndarray of float16, (n, 16)
        Random-walk return probabilities after 1..16 steps.
    eig_gap : float
        Smallest relative gap between two of a component's eigenvalues that decide which
        eigenvectors are kept (the 8 lowest and the first one dropped). Near 0 means a
        degenerate eigenspace: any rotation of its basis is an equally valid encoding.
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    eigvecs: np.ndarray
    eigvals: np.ndarray
    rw: np.ndarray
    eig_gap: float

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])


def _f16(a: np.ndarray) -> np.ndarray:
    """Round to float16 through float32, as graphium stores features."""
    return np.asarray(a, dtype=np.float32).astype(np.float16)


def ordered_mol(smiles: str) -> Chem.Mol | None:
    """Parse ``smiles`` and renumber its atoms by canonical rank (datamol ``ordered=True``);
    ``None`` when RDKit cannot parse it."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    if mol.GetNumAtoms() > 0:
        ranks = Chem.CanonicalRankAtoms(
            mol, breakTies=True, includeChirality=True, includeIsotopes=True
        )
        order = [i for _, i in sorted((r, i) for i, r in enumerate(ranks))]
        mol = Chem.RenumberAtoms(mol, order)
    return Chem.RemoveHs(mol)


def _atom_features(mol: Chem.Mol) -> np.ndarray:
    n = mol.GetNumAtoms()
    x = np.zeros((n, NODE_DIM), dtype=np.float32)
    o_sym, o_grp, o_per, o_val = 5, 5 + 44, 5 + 44 + 20, 5 + 44 + 20 + 8
    for i, atom in enumerate(mol.GetAtoms()):
        z = atom.GetAtomicNum()
        x[i, 0] = atom.GetTotalDegree() - 2
        x[i, 1] = atom.GetFormalCharge()
        x[i, 2] = atom.GetNumRadicalElectrons()
        x[i, 3] = atom.GetIsAromatic()
        x[i, 4] = atom.IsInRing()
        x[i, o_sym + _ATOM_INDEX.get(atom.GetSymbol(), len(ATOM_LIST))] = 1
        x[i, o_grp + GROUP[z - 1] - 1] = 1  # groups 1..19 map to slots 0..18
        x[i, o_per + PERIOD[z - 1] - 1] = 1
        val = atom.GetTotalValence()
        x[i, o_val + (val if val in VALENCE else len(VALENCE))] = 1
    return _f16(x)


def _bond_features(mol: Chem.Mol) -> tuple[np.ndarray, np.ndarray]:
    from rdkit.Chem import BondStereo, BondType

    types = {BondType.SINGLE: 0, BondType.DOUBLE: 1, BondType.TRIPLE: 2, BondType.AROMATIC: 3}
    stereo = {
        BondStereo.STEREONONE: 0, BondStereo.STEREOANY: 1, BondStereo.STEREOZ: 2,
        BondStereo.STEREOE: 3, BondStereo.STEREOCIS: 4, BondStereo.STEREOTRANS: 5,
    }  # fmt: skip
    m = mol.GetNumBonds()
    attr = np.zeros((2 * m, EDGE_DIM), dtype=np.float32)
    index = np.zeros((2, 2 * m), dtype=np.int64)
    for b, bond in enumerate(mol.GetBonds()):
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        index[:, 2 * b] = (i, j)
        index[:, 2 * b + 1] = (j, i)
        row = attr[2 * b]
        row[types.get(bond.GetBondType(), 4)] = 1
        row[5 + stereo.get(bond.GetStereo(), 6)] = 1
        row[12] = bond.IsInRing()
        attr[2 * b + 1] = row
    return index, attr


def _eig_lowest(lap: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """graphium's ``_get_positional_eigvecs``: general ``eig``, sort, keep ``k``, normalise.

    Returns eigvals (k,), eigvecs (n, k) (complex as LAPACK gives them) and the smallest
    relative gap between consecutive eigenvalues up to the (k+1)-th.
    """
    from scipy.linalg import eig

    n = lap.shape[0]
    vals, vecs = eig(lap)
    srt = np.sort(vals.real)
    scale = max(1.0, float(np.abs(srt).max()))
    gaps = np.diff(srt[: min(n, k + 1)]) / scale
    # the zero eigenvalue of a connected component is simple; other ties are degeneracies
    gap = float(gaps.min()) if gaps.size else np.inf
    if k > n:
        vals = np.concatenate([vals, np.full(k - n, np.inf)])
        vecs = np.concatenate([vecs, np.zeros((n, k - n))], axis=1)
    order = vals.argsort()
    vals = vals[order][:k]
    vecs = vecs[:, order][:, :k]
    vecs = vecs / np.maximum(np.sqrt(np.sum(vecs**2, axis=0, keepdims=True)), 1e-4)
    vecs[~np.isfinite(vecs)] = 0.0
    vals[~np.isfinite(vals)] = 0.0
    return vals, vecs, gap


def laplacian_pe(adj: np.ndarray, k: int = NUM_EIG) -> tuple[np.ndarray, np.ndarray, float]:
    """Laplacian eigenvectors and eigenvalues per connected component.

    Parameters
    ----------
    adj : ndarray (n, n), symmetric 0/1 adjacency
    k : number of eigenpairs

    Returns
    -------
    eigvecs : float32 (n, k); eigvals : float32 (n, k); eig_gap : float
    """
    from scipy.sparse.csgraph import connected_components

    n = adj.shape[0]
    lap = np.diag(adj.sum(axis=1)) - adj
    n_comp = connected_components(adj, directed=False)[0] if n else 0
    if n_comp <= 1:
        vals, vecs, gap = _eig_lowest(lap, k)
        eigvals = np.repeat(vals[None, :], n, axis=0)
        eigvecs = vecs
    else:
        # graphium iterates networkx's component sets in their own order; the order of the
        # atoms inside each submatrix changes LAPACK's rounding, so we keep it identical.
        import networkx as nx
        from scipy.sparse import csr_matrix

        eigvals = np.zeros((n, k), dtype=np.complex64)
        eigvecs = np.zeros((n, k), dtype=np.complex64)
        gap = np.inf
        for component in nx.connected_components(nx.from_scipy_sparse_array(csr_matrix(adj))):
            comp = list(component)
            vals, vecs, g = _eig_lowest(lap[np.ix_(comp, comp)], k)
            eigvals[comp, :] = vals[None, :]
            eigvecs[comp, :] = vecs
            gap = min(gap, g)
    return (
        np.real(eigvecs).astype(np.float32),
        np.real(eigvals).astype(np.float32),
        gap,
    )


def random_walk_pe(adj: np.ndarray, steps: int = RW_STEPS) -> np.ndarray:
    """Return probabilities of a k-step random walk, k = 1..steps; float32 (n, steps).

    Computed in float32 torch matrix products, as graphium does, so rounding matches.
    Torch runs them on one thread: these matrices are tiny, and on a busy machine
    multi-threaded products of tiny matrices are ~10x slower.
    """
    import torch

    n = adj.shape[0]
    if n == 1:
        return np.ones((1, steps), dtype=np.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.as_tensor(adj, dtype=torch.float32)
        deg = torch.as_tensor(adj.sum(axis=1), dtype=torch.float64)
        deg_inv = deg.pow(-1.0)
        deg_inv.masked_fill_(deg_inv == float("inf"), 0)
        p = torch.diag(deg_inv).float() @ a
        pk = p.clone()
        out = []
        for _ in range(steps):
            out.append(torch.diagonal(pk))
            pk = pk @ p
        return torch.stack(out, dim=-1).numpy()
    finally:
        torch.set_num_threads(threads)


def featurize(smiles: str) -> MolGraph:
    """Featurise one SMILES exactly as MiniMol v1 does.

    Raises
    ------
    ValueError
        When RDKit cannot parse ``smiles`` or the molecule has no heavy atom.
    """
    mol = ordered_mol(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    n = mol.GetNumAtoms()
    if n == 0:
        raise ValueError(f"SMILES {smiles!r} has no heavy atom; MiniMol needs at least one")
    x = _atom_features(mol)
    edge_index, edge_attr = _bond_features(mol)
    adj = np.zeros((n, n), dtype=np.float64)
    adj[edge_index[0], edge_index[1]] = 1.0
    eigvecs, eigvals, gap = laplacian_pe(adj)
    rw = random_walk_pe(adj)
    return MolGraph(
        x=x, edge_index=edge_index, edge_attr=_f16(edge_attr),
        eigvecs=_f16(eigvecs), eigvals=_f16(eigvals), rw=_f16(rw), eig_gap=gap,
    )  # fmt: skip
