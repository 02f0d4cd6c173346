"""The documented on-disk format of ``molstrata embed`` output folders.

::

    DIR/
        layer_000.npy ... layer_LLL.npy   one float32 array (n_molecules, dim_k) per layer,
                                          layer 0 = embedding output; NaN rows where invalid
        molecules.csv                     row, [id, split,] smiles (as given), valid, truncated
        manifest.json                     format, encoder, identity, n_layers, dims, pooling,
                                          n_molecules, invalid_rows, truncated_rows, files
        config.toml                       the command and options (written by the CLI)

Plain ``.npy`` files load anywhere with ``np.load(path, mmap_mode="r")``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from molstrata.core.embeddings import LayerEmbeddings
from molstrata.core.errors import ConfigError, DataNotFoundError
from molstrata.core.files import storage_error

FORMAT = "molstrata-embeddings/1"


def write_embeddings(
    emb: LayerEmbeddings, out_dir: str | Path, *, columns: Mapping[str, Sequence[Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``emb`` as one ``.npy`` per layer plus ``molecules.csv`` and ``manifest.json``.

    Parameters
    ----------
    emb : LayerEmbeddings, n_layers arrays of shape (n_molecules, dim_k)
    out_dir : folder, created if needed
    columns : more per-molecule columns for ``molecules.csv`` (``id``, ``split``...), each of
        length n_molecules
    extra : more manifest fields (source file, task...)

    Every file is first written to a staging folder inside ``out_dir`` and moved into place
    only once all are written (``manifest.json`` last): a full disk or a kill leaves ``out_dir``
    as it was, with no temporary file and no lone layer file, and raises a one-line
    :class:`~molstrata.core.errors.StorageError`.

    Returns
    -------
    Path of ``manifest.json``.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob(".staging-*"):  # left by a killed run
            shutil.rmtree(old, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    except OSError as exc:
        raise storage_error(exc, out, cache=False) from exc
    try:
        names = _write_files(emb, stage, columns=columns, extra=extra)
        for name in names:  # renames within one folder: no space needed, manifest last
            os.replace(stage / name, out / name)
    except OSError as exc:
        raise storage_error(exc, out, cache=False) from exc
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out / "manifest.json"


def _write_files(
    emb: LayerEmbeddings, out: Path, *, columns: Mapping[str, Sequence[Any]] | None,
    extra: Mapping[str, Any] | None,
) -> list[str]:
    """Write every file of the format into ``out``; return their names, manifest last."""
    import pandas as pd

    files = []
    for k, layer in enumerate(emb.layers):
        name = f"layer_{k:03d}.npy"
        np.save(out / name, np.asarray(layer, dtype=np.float32))
        files.append(name)
    truncated = set(emb.meta.get("truncated_rows", []))
    table = {"row": np.arange(emb.n_molecules)}
    for name, values in (columns or {}).items():
        if len(values) != emb.n_molecules:
            raise ValueError(f"column {name!r} has {len(values)} values for {emb.n_molecules} molecules")
        table[name] = list(values)
    table |= {
        "smiles": list(emb.smiles),
        "valid": emb.valid.astype(bool),
        "truncated": [i in truncated for i in range(emb.n_molecules)],
        "invalid_reason": _reason_column(emb),
    }
    pd.DataFrame(table).to_csv(out / "molecules.csv", index=False)
    manifest = {
        "format": FORMAT,
        "encoder": emb.encoder,
        "identity": emb.meta.get("identity"),
        "n_layers": emb.n_layers,
        "dims": emb.dims,
        "pooling": emb.pooling,
        "n_molecules": emb.n_molecules,
        "n_valid": int(emb.valid.sum()),
        "invalid_rows": [int(i) for i in np.flatnonzero(~emb.valid)],
        "invalid_reasons": emb.meta.get("invalid_reasons"),
        "truncated_rows": sorted(int(i) for i in truncated),
        "max_length": emb.meta.get("max_length"),
        "canonicalize": emb.meta.get("canonicalize"),
        "include_special": emb.meta.get("include_special"),
        "layer_files": files,
        "molecules_file": "molecules.csv",
        **dict(extra or {}),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return [*files, "molecules.csv", "manifest.json"]


def _reason_column(emb: LayerEmbeddings) -> list[str]:
    """Why each row is invalid (``""`` for valid rows), from ``meta["invalid_reasons"]``,
    which lists one reason per invalid row in row order."""
    column = [""] * emb.n_molecules
    bad = np.flatnonzero(~emb.valid)
    reasons = list(emb.meta.get("invalid_reasons") or [])
    for i, reason in zip(bad, reasons if len(reasons) == len(bad) else [], strict=False):
        column[int(i)] = str(reason)
    return column


def _load_layer(path: Path, mmap: bool) -> np.ndarray:
    """One ``(n_molecules, dim)`` layer file; never unpickles (an object array is refused)."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:  # numpy's refusal of pickled objects does not name the file
        raise ConfigError(f"{path} is not a plain numeric .npy layer file ({exc}); molstrata "
                          "never unpickles embedding files") from None


def read_embeddings(folder: str | Path, *, mmap: bool = True) -> LayerEmbeddings:
    """Read a folder written by :func:`write_embeddings` (layers memory-mapped by default)."""
    import pandas as pd

    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        raise DataNotFoundError(f"{folder} has no manifest.json; not a `molstrata embed` output")
    manifest = json.loads(path.read_text())
    mols = pd.read_csv(folder / manifest["molecules_file"], keep_default_na=False)
    layers = tuple(_load_layer(folder / f, mmap) for f in manifest["layer_files"])
    meta = {k: manifest.get(k) for k in ("identity", "truncated_rows", "max_length", "canonicalize")}
    return LayerEmbeddings(
        layers=layers, valid=mols["valid"].astype(bool).to_numpy(),
        smiles=tuple(str(s) for s in mols["smiles"]), encoder=manifest["encoder"],
        pooling=manifest["pooling"], meta=meta,
    )
