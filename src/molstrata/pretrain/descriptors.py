"""RDKit-descriptor targets for label-free graph pretraining (CheMeleon-style, with RDKit).

A fixed list of fast 2D descriptors from ``rdkit.Chem.Descriptors`` (fragment counts and the
slow or explosive ones such as ``Ipc``, ``qed`` and ``BCUT2D_*`` left out), computed once per
corpus molecule in resumable chunks, then clipped and standardised with statistics from the
training rows only.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from molstrata.core.files import atomic_write
from molstrata.pretrain.corpus import load_corpus

#: left out: slow (qed, SPS, BertzCT, BCUT2D_*), explosive (Ipc, AvgIpc), or fragment counts
EXCLUDED_PREFIXES = ("fr_", "BCUT2D_")
EXCLUDED = frozenset({"Ipc", "AvgIpc", "qed", "SPS", "BertzCT"})


def descriptor_names() -> list[str]:
    """The descriptor names used as targets, in a fixed order."""
    from rdkit.Chem import Descriptors

    return [n for n, _ in Descriptors._descList
            if n not in EXCLUDED and not n.startswith(EXCLUDED_PREFIXES)]


def compute_descriptors(smiles: list[str], names: list[str] | None = None) -> np.ndarray:
    """Descriptor matrix, shape (n_molecules, n_descriptors), float64; NaN where RDKit fails."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Descriptors

    RDLogger.DisableLog("rdApp.*")
    names = names or descriptor_names()
    funcs = dict(Descriptors._descList)
    out = np.full((len(smiles), len(names)), np.nan)
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        for j, n in enumerate(names):
            try:
                out[i, j] = float(funcs[n](mol))
            except Exception:  # noqa: BLE001 - RDKit raises many kinds; NaN is handled later
                pass
    return out


def compute_to_folder(smiles: list[str], folder: str | Path, *, chunk: int = 1000) -> np.ndarray:
    """Compute descriptors in chunks saved as ``desc_<i>.npy`` (resumable); return all rows.

    Progress goes to ``folder/progress.log``; finished chunks are skipped on restart.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = descriptor_names()
    (folder / "names.json").write_text(json.dumps(names))
    parts = []
    t0 = time.monotonic()
    with (folder / "progress.log").open("a") as log:
        for c, start in enumerate(range(0, len(smiles), chunk)):
            f = folder / f"desc_{c:05d}.npy"
            if not f.is_file():
                arr = compute_descriptors(smiles[start : start + chunk], names).astype(np.float32)
                atomic_write(f, lambda fh, arr=arr: np.save(fh, arr), cache=False)
                log.write(f"{min(start + chunk, len(smiles))}/{len(smiles)} molecules, "
                          f"{time.monotonic() - t0:.0f} s\n")
                log.flush()
            parts.append(np.load(f, allow_pickle=False))
    return np.concatenate(parts) if parts else np.zeros((0, len(names)), np.float32)


def fit_standardizer(x: np.ndarray, *, clip_quantile: float = 0.005) -> dict:
    """Robust per-column standardisation fitted on training rows ``x`` (n, n_descriptors).

    Values are clipped to the [q, 1-q] quantiles, then centred and scaled; NaN becomes 0
    (the mean) after scaling. Columns that are constant get scale 1.
    """
    lo = np.nanquantile(x, clip_quantile, axis=0)
    hi = np.nanquantile(x, 1 - clip_quantile, axis=0)
    xc = np.clip(x, lo, hi)
    mean = np.nanmean(xc, axis=0)
    std = np.nanstd(xc, axis=0)
    std = np.where(~np.isfinite(std) | (std < 1e-8), 1.0, std)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    lo = np.where(np.isfinite(lo), lo, -np.inf)
    hi = np.where(np.isfinite(hi), hi, np.inf)
    return {"lo": lo.tolist(), "hi": hi.tolist(), "mean": mean.tolist(), "std": std.tolist()}


def apply_standardizer(x: np.ndarray, stats: dict) -> np.ndarray:
    """Clip, centre, scale; NaN → 0. Returns float32 (n, n_descriptors)."""
    xc = np.clip(x, np.asarray(stats["lo"]), np.asarray(stats["hi"]))
    z = (xc - np.asarray(stats["mean"])) / np.asarray(stats["std"])
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


if __name__ == "__main__":  # pragma: no cover - background precompute entry point
    import argparse


    ap = argparse.ArgumentParser(description="precompute descriptor targets for graph pretraining")
    ap.add_argument("--corpus", required=True, help="corpus folder (train.txt, valid.txt)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-train", type=int, default=40000)
    args = ap.parse_args()
    train, valid, _ = load_corpus(args.corpus)
    compute_to_folder(valid, Path(args.out) / "valid")
    compute_to_folder(train[: args.n_train], Path(args.out) / "train")
