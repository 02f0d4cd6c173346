"""Where MiniMol's weights come from, checked: ``state_dict.pth`` + ``config.yaml``.

Looked up in this order, offline first:


1. ``weights_dir=`` (a folder holding ``state_dict.pth`` and ``config.yaml``);
2. the ``MOLSTRATA_MINIMOL_DIR`` environment variable (same layout);
3. an installed ``minimol`` package (``pip install --no-deps minimol==1.3.5``: the
   weights ship in the wheel; ``--no-deps`` skips graphium). It is never imported;
4. a previous download in molstrata's data folder;
5. a download of the minimol 1.3.5 wheel from PyPI, checked against its pinned SHA-256,
   from which the two files are extracted (pass ``download=False`` to forbid it).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from molstrata.core.errors import (
    ChecksumError,
    ConfigError,
    DataNotFoundError,
    OptionalDependencyError,
)

__all__ = [
    "ENV_DIR", "INSTALL_HINT", "STATE_DICT_SHA256", "WHEEL_NAME", "WHEEL_SHA256", "WHEEL_URL",
    "download_weights", "find_weights",
]

ENV_DIR = "MOLSTRATA_MINIMOL_DIR"
WHEEL_NAME = "minimol-1.3.5-py3-none-any.whl"
WHEEL_URL = f"https://files.pythonhosted.org/packages/py3/m/minimol/{WHEEL_NAME}"
WHEEL_SHA256 = "faa431c550682dfeed9f5b5503e3efef2a3d85a782afa256150449bb209f9eda"
#: SHA-256 of ``minimol/ckpts/minimol_v1/state_dict.pth`` in the 1.3.5 wheel
STATE_DICT_SHA256 = "a3061e1cdbbd5e544168fbf8c1e01836c8c19ac030891d495a2ae9f29cfe97a7"
_MEMBERS = ("state_dict.pth", "config.yaml")
_CKPT_IN_WHEEL = "minimol/ckpts/minimol_v1"
INSTALL_HINT = (
    "Install the weights with `pip install --no-deps minimol==1.3.5` (they ship inside that "
    f"wheel; --no-deps skips graphium), or set {ENV_DIR} to a folder holding state_dict.pth "
    "and config.yaml, or allow molstrata to download the wheel (download=True)."
)
# What the re-implementation hard-codes; checked against the checkpoint's config.yaml.
_EXPECTED_CONFIG = {
    ("architecture", "gnn", "depth"): 16,
    ("architecture", "gnn", "hidden_dims"): 336,
    ("architecture", "gnn", "out_dim"): 512,
    ("architecture", "gnn", "hidden_dims_edges"): 168,
    ("architecture", "gnn", "layer_type"): "pyg:gine",
    ("architecture", "gnn", "virtual_node"): "logsum",
    ("architecture", "gnn", "residual_type"): "simple",
    ("architecture", "gnn", "activation"): "gelu",
    ("architecture", "gnn", "normalization"): "layer_norm",
    ("architecture", "pre_nn", "out_dim"): 128,
    ("architecture", "pre_nn", "hidden_dims"): 256,
    ("architecture", "pre_nn_edges", "out_dim"): 168,
    ("architecture", "pe_encoders", "pool"): "sum",
    ("datamodule", "args", "featurization", "explicit_H"): False,
    ("datamodule", "args", "featurization", "atom_property_list_onehot"):
        ["atomic-number", "group", "period", "total-valence"],
    ("datamodule", "args", "featurization", "atom_property_list_float"):
        ["degree", "formal-charge", "radical-electron", "aromatic", "in-ring"],
    ("datamodule", "args", "featurization", "edge_property_list"):
        ["bond-type-onehot", "stereo", "in-ring"],
}  # fmt: skip


def _complete(folder: Path) -> bool:
    return all((folder / m).is_file() for m in _MEMBERS)


def _installed_package_dir() -> Path | None:
    """The checkpoint folder inside an installed ``minimol`` wheel, found without importing it."""
    import importlib.metadata as md

    try:
        path = Path(str(md.distribution("minimol").locate_file(_CKPT_IN_WHEEL)))
    except md.PackageNotFoundError:
        return None
    return path if _complete(path) else None


def _download_root() -> Path:
    from molstrata.core.paths import user_data_dir

    return user_data_dir() / "minimol"


def download_weights(
    dest: Path | None = None, *, url: str = WHEEL_URL, sha256: str = WHEEL_SHA256
) -> Path:
    """Download the minimol 1.3.5 wheel (hash-checked) and extract its checkpoint.

    Parameters
    ----------
    dest : folder to download into; default: molstrata's user data folder ``/minimol``
    url, sha256 : the wheel and its pinned SHA-256 (overridable for mirrors and tests)

    Returns
    -------
    Path of a folder holding ``state_dict.pth`` and ``config.yaml``.

    Raises
    ------
    ChecksumError
        The download does not have the pinned hash (nothing is extracted).
    DataNotFoundError
        The download failed (no network) or the wheel lacks the checkpoint.
    """
    import pooch

    dest = Path(dest) if dest is not None else _download_root()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        wheel = pooch.retrieve(
            url, known_hash=f"sha256:{sha256}", fname=Path(url).name, path=dest, progressbar=False
        )
    except ValueError as exc:  # pooch's hash mismatch
        raise ChecksumError(
            f"download of {url} failed its SHA-256 check ({exc}); nothing was kept"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - network errors come in many types
        raise DataNotFoundError(
            f"could not download MiniMol weights from {url}: {exc}. {INSTALL_HINT}"
        ) from exc
    out = dest / "minimol_v1"
    tmp = dest / f".minimol_v1.{os.getpid()}.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for member in _MEMBERS:
            inner = f"{_CKPT_IN_WHEEL}/{member}"
            if inner not in names:
                raise DataNotFoundError(f"{wheel} has no {inner}; is it a minimol wheel?")
            (tmp / member).write_bytes(zf.read(inner))
    out.mkdir(exist_ok=True)
    for member in _MEMBERS:
        os.replace(tmp / member, out / member)  # atomic per file
    tmp.rmdir()
    return out


def find_weights(
    weights_dir: str | os.PathLike | None = None, *, download: bool = False
) -> tuple[Path, str]:
    """Locate MiniMol's ``state_dict.pth`` + ``config.yaml`` (see the module docstring).

    Returns
    -------
    (folder, source) where source is one of ``"weights_dir"``, ``"env"``, ``"package"``,
    ``"downloaded"``.

    Raises
    ------
    DataNotFoundError
        An explicit folder lacks the files, or nothing is found and ``download`` is False.
    """
    if weights_dir is not None:
        folder = Path(weights_dir).expanduser()
        if not _complete(folder):
            raise DataNotFoundError(
                f"weights_dir={str(folder)!r} must hold {' and '.join(_MEMBERS)}"
            )
        return folder, "weights_dir"
    env = os.environ.get(ENV_DIR, "").strip()
    if env:
        folder = Path(env).expanduser()
        if not _complete(folder):
            raise DataNotFoundError(
                f"{ENV_DIR}={env!r} must be a folder holding {' and '.join(_MEMBERS)}"
            )
        return folder, "env"
    package = _installed_package_dir()
    if package is not None:
        return package, "package"
    cached = _download_root() / "minimol_v1"
    if _complete(cached):
        return cached, "downloaded"
    if download:
        return download_weights(), "downloaded"
    raise DataNotFoundError(f"MiniMol weights not found. {INSTALL_HINT}")


def _check_config(path: Path) -> None:
    """Refuse a checkpoint whose config.yaml describes another architecture."""
    try:
        import yaml
    except ImportError as exc:
        raise OptionalDependencyError(
            "reading MiniMol's config.yaml needs PyYAML: pip install molstrata[minimol]"
        ) from exc
    cfg = yaml.safe_load(path.read_text())
    for keys, expected in _EXPECTED_CONFIG.items():
        value: Any = cfg
        for k in keys:
            value = value.get(k) if isinstance(value, dict) else None
        if value != expected:
            raise ConfigError(
                f"{path}: {'.'.join(keys)} is {value!r}, but molstrata's MiniMol re-implementation "
                f"supports only {expected!r}"
            )


def _load_state_dict(path: Path) -> dict:
    """The GNN-side tensors of MiniMol's checkpoint (safe load: tensors only)."""
    from molstrata.core.safeload import load_tensors

    raw = load_tensors(path, what="MiniMol checkpoint")
    if not isinstance(raw, dict):
        raise ConfigError(f"MiniMol checkpoint {path} holds a {type(raw).__name__}, not a state dict")
    skip = ("model.task_heads.", "model.encoder_manager.pe_encoders.rw_pos.first_normalization.")
    return {
        k[len("model.") :]: v
        for k, v in raw.items()
        if k.startswith("model.") and not k.startswith(skip)
    }
