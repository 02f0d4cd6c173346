"""The cells of a probe run folder: one file per (encoder, task, seed, layer), written
atomically as it arrives, keyed by a ``key.json`` per (task, seed) of its inputs, and read
back (or recomputed, with a warning, when damaged) on resume."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from molstrata.core.embeddings import LayerEmbeddings
from molstrata.core.files import atomic_write, read_cached
from molstrata.probe._probe import LayerCell
from molstrata.probe.outputs import slug
from molstrata.runs._record import describe


def _cell_path(out: Path, enc: str, task: str, seed: int, layer: int) -> Path:
    return out / "cells" / slug(enc) / task / f"seed{seed}" / f"layer{layer:03d}.npz"


def _write_cell(path: Path, cell: LayerCell) -> None:
    """Write one cell atomically (a full disk leaves the old file or none, and no temp file)."""
    atomic_write(path, lambda fh: np.savez(fh, valid_score=cell.valid_score, param=cell.param,
                                           test_pred=cell.test_pred), cache=False)


def _load_cell(path: Path, n_test: int) -> LayerCell:
    with np.load(path, allow_pickle=False) as z:
        cell = LayerCell(float(z["valid_score"]), float(z["param"]), np.asarray(z["test_pred"]))
    if cell.test_pred.shape != (n_test,):
        raise ValueError(f"test_pred has shape {cell.test_pred.shape}, expected ({n_test},)")
    return cell


def _read_cell(path: Path, n_test: int) -> LayerCell | None:
    """The cell at ``path``; ``None`` when absent, or when damaged (with a warning)."""
    return read_cached(path, lambda p: _load_cell(p, n_test), what="probe cell")


def _cell_key(enc_identity: str, settings: Mapping[str, Any], inputs: Mapping[str, str],
              task: str, seed: int) -> dict[str, str]:
    """What the cells of one (encoder, task, seed) were computed from, flat: the task's input
    hashes (``train_val.csv``, ``test.csv``, ``labels``), the split seed, the encoder's
    identity hash and each probe setting (JSON)."""
    prefix = f"{task}/"
    key = {k[len(prefix):].replace(f"@seed{seed}", ""): v for k, v in inputs.items()
           if k.startswith(prefix) and ("@seed" not in k or k.endswith(f"@seed{seed}"))}
    key["split seed"] = str(seed)
    key["encoder identity"] = enc_identity
    key.update({f"--{k}": json.dumps(v, sort_keys=True) for k, v in settings.items()})
    return key


def _check_cells(folder: Path, key: Mapping[str, str]) -> str:
    """Make ``folder`` (one (task, seed)'s cells) hold only cells computed from ``key``.

    A folder whose ``key.json`` differs (other data, labels, encoder or settings) is
    emptied; returns what differed in one line (``""`` when the cells are reusable)."""
    path = folder / "key.json"
    why = ""
    if folder.is_dir():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
        if old != dict(key):
            why = (describe(old, key) if isinstance(old, dict) else "") or "cells without a key"
            shutil.rmtree(folder)
    if why or not path.is_file():
        atomic_write(path, json.dumps(dict(key), sort_keys=True, indent=2), cache=False)
    return why


_CELL_FILE = re.compile(r"layer\d+\.npz")


def _selection_files(folder: Path) -> list[Path]:
    """The strategies' cache files (``*.npz``) in a (task, seed) cell folder: not the layer
    cells, not a temporary file left by a killed write."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.npz") if p.is_file() and not _CELL_FILE.fullmatch(p.name))


def _layer_view(emb: Any, layers: Sequence[int]) -> Any:
    """``emb`` restricted to ``layers`` (no copy): a cell gathers only the layers it fits."""
    return LayerEmbeddings(layers=tuple(emb.layers[k] for k in layers), valid=emb.valid,
                           smiles=emb.smiles, encoder=emb.encoder, pooling=emb.pooling)


def _write_identity(out: Path, enc: Any) -> None:
    """``cells/<encoder>/identity.json``: the probed encoder's identity (read by
    :func:`molstrata.analysis.recommend.check_probe_results`); each cell's ``key.json``
    decides whether it is reused."""
    atomic_write(out / "cells" / slug(enc.name) / "identity.json",
                 json.dumps(enc.identity(), sort_keys=True, default=str), cache=False)
