"""The pretraining corpus: unlabeled ChEMBL SMILES minus every TDC ADMET test molecule.

Every SMILES is RDKit-canonicalised and deduplicated; any molecule whose canonical SMILES
appears in the ``test.csv`` of any of the 22 TDC ADMET benchmark tasks is removed, so no
probe or finetune score is ever measured on a molecule the encoder saw in pretraining.
A small validation split is held out for the MLM / descriptor losses.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from molstrata.core.errors import DataNotFoundError
from molstrata.core.progress import progress as progress_bar
from molstrata.data.smiles import canonicalize


@dataclass(frozen=True)
class CorpusInfo:
    """Provenance of a built corpus (written to ``corpus.json``)."""

    sources: list[str]
    n_read: int
    n_invalid: int
    n_unique: int
    n_removed_tdc_test: int
    n_train: int
    n_valid: int
    sha256_train: str
    sha256_valid: str
    seed: int


def read_smiles_file(path: str | Path) -> list[str]:
    """SMILES from a ``.txt`` (one per line) or a ``.csv`` with a ``SMILES``/``smiles``/``Drug`` column."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"corpus file not found: {path}")
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            col = next((c for c in ("SMILES", "smiles", "Drug", "canonical_smiles") if c in cols), None)
            if col is None:
                raise DataNotFoundError(
                    f"{path}: no SMILES column (looked for SMILES, smiles, Drug); columns: {cols}"
                )
            return [row[col].strip() for row in reader if row[col] and row[col].strip()]
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line.split()[0])
    return out


def default_sources(data_dir: str | Path) -> list[Path]:
    """Every file under ``<data_dir>/unlabeled_smiles`` (sorted, so the corpus is deterministic)."""
    root = Path(data_dir) / "unlabeled_smiles"
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".txt", ".csv", ".smi"))
    if not files:
        raise DataNotFoundError(f"no unlabeled SMILES files under {root}")
    return files


def tdc_test_canonical(data_dir: str | Path) -> frozenset[str]:
    """Canonical SMILES of every molecule in every ``admet_group/<task>/test.csv``.

    Cached per folder for the life of the process (the files are read-only benchmark data).
    """
    return _tdc_test_canonical(str(Path(data_dir).resolve()))


@functools.lru_cache(maxsize=4)
def _tdc_test_canonical(data_dir: str) -> frozenset[str]:
    root = Path(data_dir) / "admet_group"
    files = sorted(root.glob("*/test.csv"))
    if not files:
        raise DataNotFoundError(f"no TDC test sets found under {root} (expected <task>/test.csv)")
    out: set[str] = set()
    for f in files:
        for s in read_smiles_file(f):
            c = canonicalize(s)
            if c:
                out.add(c)
    return frozenset(out)


def _canon_chunk(chunk: list[str]) -> list[str | None]:
    return [canonicalize(s) for s in chunk]


def _sha256_lines(lines: list[str]) -> str:
    h = hashlib.sha256()
    for s in lines:
        h.update(s.encode())
        h.update(b"\n")
    return h.hexdigest()


def build_corpus(
    sources: list[str | Path],
    out_dir: str | Path,
    *,
    data_dir: str | Path,
    n_valid: int = 2000,
    seed: int = 0,
    progress: bool = True,
) -> CorpusInfo:
    """Build ``train.txt``, ``valid.txt`` and ``corpus.json`` in ``out_dir``.

    Parameters
    ----------
    sources : SMILES files (.txt one per line, or .csv with a SMILES column)
    out_dir : folder to write into
    data_dir : folder holding ``admet_group/<task>/test.csv`` (molecules to remove)
    n_valid : molecules held out (random, seeded) for validation losses
    seed : shuffling seed

    Returns
    -------
    CorpusInfo, also written as ``out_dir/corpus.json``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw: list[str] = []
    for src in sources:
        raw.extend(read_smiles_file(src))
    uniq_raw = list(dict.fromkeys(raw))
    canon: list[str | None] = []
    step = 5000
    with progress_bar("canonicalise", len(uniq_raw), show=progress) as bar:
        for i in range(0, len(uniq_raw), step):
            canon.extend(_canon_chunk(uniq_raw[i : i + step]))
            bar.advance(len(uniq_raw[i : i + step]))
    n_invalid = sum(c is None for c in canon)
    unique = sorted({c for c in canon if c})
    test = tdc_test_canonical(data_dir)
    kept = [s for s in unique if s not in test]
    n_removed = len(unique) - len(kept)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(kept))
    kept = [kept[i] for i in order]
    n_valid = min(n_valid, len(kept) // 10)
    valid, train = kept[:n_valid], kept[n_valid:]
    (out_dir / "train.txt").write_text("\n".join(train) + "\n")
    (out_dir / "valid.txt").write_text("\n".join(valid) + "\n")
    info = CorpusInfo(
        sources=[str(s) for s in sources], n_read=len(raw), n_invalid=n_invalid,
        n_unique=len(unique), n_removed_tdc_test=n_removed, n_train=len(train),
        n_valid=len(valid), sha256_train=_sha256_lines(train), sha256_valid=_sha256_lines(valid),
        seed=seed,
    )
    (out_dir / "corpus.json").write_text(json.dumps(asdict(info), indent=2))
    return info


def load_corpus(folder: str | Path) -> tuple[list[str], list[str], dict]:
    """``(train, valid, info)`` from a folder written by :func:`build_corpus`."""
    folder = Path(folder)
    for name in ("train.txt", "valid.txt"):
        if not (folder / name).is_file():
            raise DataNotFoundError(f"{folder / name} missing: build the corpus first")
    train = read_smiles_file(folder / "train.txt")
    valid = read_smiles_file(folder / "valid.txt")
    info_path = folder / "corpus.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    return train, valid, info


if __name__ == "__main__":  # pragma: no cover - a recipe entry point
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-valid", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    info = build_corpus(default_sources(args.data_dir), args.out, data_dir=args.data_dir,
                        n_valid=args.n_valid, seed=args.seed)
    print(json.dumps(asdict(info), indent=2))
