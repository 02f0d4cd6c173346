"""Scaffold split, reproducing PyTDC's ``create_scaffold_split`` row for row.

PyTDC (``tdc/utils/split.py``, ``create_scaffold_split``, unchanged from 0.3 to 1.1.15) splits
the ``train_val.csv`` of each ADMET task into train and valid as follows, and this module
does the same, without importing PyTDC:

1. For every row ``i``, in file order, compute the Bemis-Murcko scaffold SMILES with RDKit
   (``MurckoScaffoldSmiles(mol=MolFromSmiles(smi), includeChirality=False)``) and add ``i``
   to the Python ``set`` of rows with that scaffold. Scaffold groups are kept in order of
   first appearance (a ``dict``).
2. Rows whose SMILES RDKit rejects raise inside ``MurckoScaffoldSmiles`` and are **omitted
   from every part** of the split; they are also subtracted from the row count used for the
   part sizes. (This is what happens to the 2 unparsable SMILES in ``solubility_aqsoldb``:
   PyTDC's train + valid hold 7983 of its 7985 ``train_val`` rows.)
3. Sizes: ``n_train = int(n * frac[0])``, ``n_valid = int(n * frac[1])``,
   ``n_test = n - n_train - n_valid`` with ``n`` the number of parsable rows.
4. Groups larger than ``n_valid / 2`` or ``n_test / 2`` are "big", the others "small"; with
   ``random.Random(seed)`` (re-seeded with ``seed``) the big list is shuffled, then the small
   list; big groups come first.
5. Groups are dealt greedily: a group goes to train if it still fits under ``n_train``, else
   to valid (when ``frac[2] == 0``), else (three-way split) to valid if it fits under
   ``n_valid``, else to test. Rows of a group are appended in the iteration order of the
   Python ``set`` of their indices, which fixes the row order of each part.

The scaffold strings only decide which rows share a group; the group order comes from
first appearance. Different RDKit versions can group a few molecules differently, which is
why the groups of the official ADMET files ship precomputed (see :mod:`molstrata.data`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from random import Random

import numpy as np

from molstrata.core.files import atomic_write
from molstrata.core.paths import cache_dir, cache_enabled
from molstrata.core.progress import progress as progress_bar
from molstrata.data.smiles import ASCII_WHITESPACE, check_smiles


@dataclass(frozen=True)
class ScaffoldGroups:
    """Rows grouped by Bemis-Murcko scaffold, in order of first appearance.

    Attributes
    ----------
    groups : tuple of tuple of int
        Row positions sharing one scaffold, each in the iteration order of the Python ``set``
        PyTDC builds for it (frozen here, so a cached copy deals rows identically).
    failed : ndarray of int, shape (n_failed,)
        Row positions whose SMILES RDKit could not parse (omitted from every part).
    n_rows : int
        Number of input rows.
    """

    groups: tuple[tuple[int, ...], ...]
    failed: np.ndarray
    n_rows: int


def scaffold_groups(smiles: Sequence[str]) -> ScaffoldGroups:
    """Group rows by scaffold exactly as PyTDC's ``create_scaffold_split`` does.

    Parameters
    ----------
    smiles : sequence of str, length n_molecules

    Returns
    -------
    ScaffoldGroups
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem.Scaffolds import MurckoScaffold

    RDLogger.DisableLog("rdApp.*")
    groups: dict[str, set[int]] = {}
    failed: list[int] = []
    for i, smi in enumerate(_progress(smiles, "Bemis-Murcko scaffolds")):
        # PyTDC: MurckoScaffoldSmiles raises -> row omitted. Blank strings (RDKit reads an
        # empty molecule) and strings RDKit would misread (check_smiles: internal whitespace,
        # non-ASCII, control characters) count as failures too; no TDC file has one.
        ok = isinstance(smi, str) and check_smiles(smi) is None
        mol = Chem.MolFromSmiles(smi.strip(ASCII_WHITESPACE)) if ok else None
        if mol is None:
            failed.append(i)
            continue
        scaffold = MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)
        groups.setdefault(scaffold, set()).add(i)
    frozen = tuple(tuple(rows) for rows in groups.values())  # set iteration order, as PyTDC
    return ScaffoldGroups(frozen, np.asarray(failed, dtype=np.int64), len(smiles))


def _progress(items: Sequence[str], desc: str) -> Iterator[str]:
    """``items``, with a progress bar on stderr for long lists (>= 5,000 molecules)."""
    with progress_bar(desc, len(items), show=len(items) >= 5000, transient=True) as bar:
        for item in items:
            yield item
            bar.advance(1)


def scaffold_split_indices(
    groups: ScaffoldGroups, seed: int, frac: Sequence[float] = (0.875, 0.125, 0.0)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deal scaffold groups into train / valid / test as PyTDC does.

    Parameters
    ----------
    groups : ScaffoldGroups
        From :func:`scaffold_groups`.
    seed : int
        The split seed (PyTDC's ``seed``).
    frac : three floats
        Train, valid and test fractions. ``(0.875, 0.125, 0.0)`` is what PyTDC's
        ``admet_group.get_train_valid_split`` uses on ``train_val.csv``.

    Returns
    -------
    train, valid, test : ndarray of int
        Row positions, in PyTDC's order. Rows in ``groups.failed`` appear in none.
    """
    n = groups.n_rows - len(groups.failed)
    train_size = int(n * frac[0])
    val_size = int(n * frac[1])
    test_size = n - train_size - val_size

    big, small = [], []
    for index_set in groups.groups:
        if len(index_set) > val_size / 2 or len(index_set) > test_size / 2:
            big.append(index_set)
        else:
            small.append(index_set)
    rng = Random(seed)
    rng.seed(seed)
    rng.shuffle(big)
    rng.shuffle(small)

    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for index_set in big + small:
        if len(train) + len(index_set) <= train_size:
            train += index_set
        elif frac[2] == 0 or len(valid) + len(index_set) <= val_size:
            valid += index_set
        else:
            test += index_set
    as_array = lambda rows: np.asarray(rows, dtype=np.int64)  # noqa: E731
    return as_array(train), as_array(valid), as_array(test)


def random_split_indices(
    n_rows: int, seed: int, frac: Sequence[float] = (0.8, 0.1, 0.1)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded random split (``numpy.random.default_rng(seed).permutation``).

    Returns
    -------
    train, valid, test : ndarray of int
        Row positions; sizes ``int(n * frac[0])``, ``int(n * frac[1])`` and the rest.
    """
    perm = np.random.default_rng(seed).permutation(n_rows)
    n_train = int(n_rows * frac[0])
    n_valid = int(n_rows * frac[1])
    return perm[:n_train], perm[n_train : n_train + n_valid], perm[n_train + n_valid :]


_CACHE_VERSION = "2"  # 2: strict SMILES check (molstrata.data.smiles)


def cached_scaffold_groups(smiles: Sequence[str]) -> ScaffoldGroups:
    """:func:`scaffold_groups`, memoised on disk under ``<MOLSTRATA_CACHE_DIR>/scaffolds/``.

    The key hashes the SMILES (in order), the RDKit version and a format version, so a new
    RDKit recomputes. Files are JSON, written atomically (temp file + rename); an unreadable
    one is recomputed.
    """
    import hashlib
    import json

    import rdkit

    if not cache_enabled():  # --no-cache
        return scaffold_groups(smiles)
    digest = hashlib.sha256()
    digest.update(f"v{_CACHE_VERSION}|rdkit {rdkit.__version__}|".encode())
    for smi in smiles:
        digest.update(str(smi).encode() + b"\n")
    path = cache_dir() / "scaffolds" / f"{digest.hexdigest()}.json"
    try:
        data = json.loads(path.read_text())
        return ScaffoldGroups(
            tuple(tuple(g) for g in data["groups"]),
            np.asarray(data["failed"], dtype=np.int64),
            int(data["n_rows"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        pass
    groups = scaffold_groups(smiles)
    payload = {"n_rows": groups.n_rows, "failed": groups.failed.tolist(), "groups": groups.groups}
    try:
        atomic_write(path, json.dumps(payload, separators=(",", ":")), cache=True)
    except OSError:  # a read-only cache only costs time (StorageError is an OSError)
        pass
    return groups
