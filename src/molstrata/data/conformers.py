"""One 3D conformer per molecule, for the 3D encoders (Uni-Mol, Orb, Pos-EGNN).

The ladder, tried in order and recorded per molecule in :attr:`Conformer.method`:

1. ``etkdg``: RDKit ETKDGv3 embedding with a fixed seed (explicit hydrogens added);
2. ``random``: the same, starting from random coordinates (``useRandomCoords``) when 1 fails;
3. ``2d``: RDKit 2D depiction coordinates (z = 0) when both fail: never silent, always recorded.

3D geometries are then optimised with MMFF94 (``+mmff``), falling back to UFF (``+uff``) when
MMFF has no parameters for the molecule; ``+none`` when neither force field applies.

Conformers are cached on disk by canonical SMILES (under ``MOLSTRATA_CACHE_DIR/conformers``,
one ``.npz`` per molecule, written atomically, read without pickle), generated in a process
pool over the CPU cores, with a progress bar. Whether an encoder sees hydrogens is the
encoder's choice: every conformer keeps them, and :meth:`Conformer.heavy` drops them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from molstrata.core.errors import ConfigError, MolstrataError, check_choice
from molstrata.core.files import atomic_write, read_cached
from molstrata.core.paths import cache_dir, cache_enabled
from molstrata.core.progress import progress as progress_bar

if TYPE_CHECKING:
    from rdkit import Chem

#: bump when the recipe changes: old cache entries are then ignored
RECIPE_VERSION = 1
METHODS = ("etkdg", "random", "2d")


class ConformerError(MolstrataError, ValueError):
    """Conformers could not be made for some molecules.

    Attributes
    ----------
    indices : list of int, row positions (0-based, input order)
    reasons : list of str, aligned with ``indices``
    """

    def __init__(self, indices: Sequence[int], smiles: Sequence[str], reasons: Sequence[str]):
        self.indices = [int(i) for i in indices]
        self.reasons = [str(r) for r in reasons]
        shown = ", ".join(
            f"row {i} ({s!r}: {r})" for i, s, r in list(zip(self.indices, smiles, self.reasons, strict=True))[:10]
        )
        more = f" (and {len(self.indices) - 10} more)" if len(self.indices) > 10 else ""
        super().__init__(f"no conformer for {len(self.indices)} molecule(s): {shown}{more}")


@dataclass(frozen=True, eq=False)
class Conformer:
    """One molecule's geometry, hydrogens explicit.

    Attributes
    ----------
    smiles : str, the canonical SMILES it was made from
    atomic_numbers : ndarray of int64, shape (n_atoms,), RDKit atom order (heavy atoms first,
        then the added hydrogens)
    coords : ndarray of float32, shape (n_atoms, 3), Angstrom
    method : str, how it was made: ``"etkdg+mmff"``, ``"etkdg+uff"``, ``"random+mmff"``,
        ``"random+uff"``, ``"*+none"`` or ``"2d"``
    """

    smiles: str
    atomic_numbers: np.ndarray
    coords: np.ndarray
    method: str

    @property
    def n_atoms(self) -> int:
        return int(len(self.atomic_numbers))

    @property
    def symbols(self) -> list[str]:
        """Element symbols, shape (n_atoms,)."""
        from rdkit import Chem

        table = Chem.GetPeriodicTable()
        return [table.GetElementSymbol(int(z)) for z in self.atomic_numbers]

    @property
    def is_3d(self) -> bool:
        return self.method != "2d"

    def heavy(self) -> Conformer:
        """The same conformer without hydrogen atoms."""
        keep = self.atomic_numbers != 1
        return Conformer(self.smiles, self.atomic_numbers[keep], self.coords[keep], self.method)


@dataclass(frozen=True, eq=False)
class ConformerSet:
    """Conformers of n_molecules inputs, in input order.

    Attributes
    ----------
    conformers : tuple of Conformer or None, length n_molecules (None where failed/invalid)
    failed : ndarray of int, row positions with no conformer
    reasons : dict int -> str, why each failed row failed
    """

    conformers: tuple[Conformer | None, ...]
    failed: np.ndarray
    reasons: dict[int, str]

    def __len__(self) -> int:
        return len(self.conformers)

    def __getitem__(self, i: int) -> Conformer | None:
        return self.conformers[i]

    @property
    def methods(self) -> list[str | None]:
        """Method of each row, ``None`` where it failed."""
        return [c.method if c is not None else None for c in self.conformers]


def make_conformer(smiles: str, seed: int = 0) -> Conformer:
    """Make one conformer of ``smiles`` with the ladder in the module docstring.

    Parameters
    ----------
    smiles : a SMILES RDKit can parse (canonical, for cache consistency)
    seed : RDKit ``randomSeed`` of the embedding (same seed, same geometry)

    Raises
    ------
    ConfigError when RDKit cannot parse ``smiles``.
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ConfigError(f"RDKit cannot parse SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    method = None
    for name, random_coords in (("etkdg", False), ("random", True)):
        params = AllChem.ETKDGv3()
        params.randomSeed = int(seed)
        params.useRandomCoords = random_coords
        if AllChem.EmbedMolecule(mol, params) == 0:
            method = name
            break
    if method is None:
        AllChem.Compute2DCoords(mol)
        method = "2d"
    else:
        method += "+" + _optimise(mol)
    pos = mol.GetConformer().GetPositions().astype(np.float32)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    return Conformer(smiles, z, pos, method)


def _optimise(mol: Chem.Mol) -> str:
    from rdkit.Chem import AllChem

    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
        return "mmff"
    if AllChem.UFFHasAllMoleculeParams(mol):
        AllChem.UFFOptimizeMolecule(mol, maxIters=2000)
        return "uff"
    return "none"


def _cache_path(root: Path, smiles: str, seed: int) -> Path:
    from rdkit import rdBase

    key = f"{RECIPE_VERSION}|{rdBase.rdkitVersion}|{seed}|{smiles}"
    h = hashlib.sha256(key.encode()).hexdigest()
    return root / h[:2] / f"{h}.npz"


def _load(path: Path, smiles: str) -> Conformer | None:
    with np.load(path, allow_pickle=False) as f:
        if str(f["smiles"]) != smiles:  # hash collision or foreign file
            return None
        return Conformer(smiles, f["z"].astype(np.int64), f["xyz"].astype(np.float32), str(f["method"]))


def _read(path: Path, smiles: str) -> Conformer | None:
    """The cached conformer, or ``None`` (absent, foreign, or damaged: warned, recomputed)."""
    return read_cached(path, lambda p: _load(p, smiles), what="conformer cache entry")


def _write(path: Path, conf: Conformer) -> None:
    atomic_write(path, lambda fh: np.savez(
        fh, smiles=np.str_(conf.smiles), z=conf.atomic_numbers, xyz=conf.coords,
        method=np.str_(conf.method)), cache=True)


def _job(args: tuple[str, int]) -> tuple[Conformer | None, str]:
    smiles, seed = args
    try:
        return make_conformer(smiles, seed), ""
    except Exception as exc:  # noqa: BLE001 - reported per row by the caller
        return None, f"{type(exc).__name__}: {exc}"


def generate_conformers(
    smiles: Sequence[str],
    *,
    seed: int = 0,
    n_jobs: int | None = None,
    cache: bool = True,
    progress: bool | None = None,
    on_error: str = "raise",
) -> ConformerSet:
    """One conformer per input SMILES, cached, in parallel.

    Parameters
    ----------
    smiles : sequence of str, length n_molecules; canonical SMILES are best (the cache keys
        on the string as given)
    seed : embedding seed, part of the cache key
    n_jobs : worker processes; default: all CPU cores (``os.cpu_count()``); 1: in-process
    cache : read and write ``MOLSTRATA_CACHE_DIR/conformers``
    progress : show a progress bar; default: when more than 100 molecules need computing
    on_error : ``"raise"`` (:class:`ConformerError` naming every failed row) or ``"mask"``
        (``None`` in those rows, listed in ``failed``)

    Returns
    -------
    ConformerSet in input order.
    """
    check_choice("on_error", on_error, ("raise", "mask"))
    smiles = [str(s) for s in smiles]
    n = len(smiles)
    out: list[Conformer | None] = [None] * n
    reasons: dict[int, str] = {}
    root = cache_dir() / "conformers"
    cache = cache and cache_enabled()
    todo: dict[str, list[int]] = {}
    for i, s in enumerate(smiles):
        hit = _read(_cache_path(root, s, seed), s) if cache else None
        if hit is not None:
            out[i] = hit
        else:
            todo.setdefault(s, []).append(i)
    if todo:
        keys = list(todo)
        jobs = n_jobs or os.cpu_count() or 1
        show = progress if progress is not None else len(keys) > 100
        for s, (conf, why) in zip(keys, _run(keys, seed, jobs, show), strict=True):
            if conf is None:
                for i in todo[s]:
                    reasons[i] = why
                continue
            if cache:
                _write(_cache_path(root, s, seed), conf)
            for i in todo[s]:
                out[i] = conf
    failed = np.array(sorted(reasons), dtype=np.int64)
    if len(failed) and on_error == "raise":
        raise ConformerError(failed, [smiles[i] for i in failed], [reasons[i] for i in failed])
    return ConformerSet(tuple(out), failed, reasons)


def _run(keys: list[str], seed: int, jobs: int, show: bool) -> list[tuple[Conformer | None, str]]:
    args = [(s, seed) for s in keys]
    with progress_bar("conformers (RDKit ETKDGv3)", len(args), show=show, transient=True) as bar:
        if jobs <= 1 or len(args) < 2 * jobs:
            results = []
            for a in args:
                results.append(_job(a))
                bar.advance(1)
            return results
        from concurrent.futures import ProcessPoolExecutor

        results = []
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for r in pool.map(_job, args, chunksize=max(1, len(args) // (jobs * 8))):
                results.append(r)
                bar.advance(1)
        return results
