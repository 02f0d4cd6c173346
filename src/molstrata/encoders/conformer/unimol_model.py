"""Building unimol-tools' Uni-Mol models without downloads, and reading their checkpoints.

The architectures are unimol-tools' own classes (``UniMolModel``, ``UniMolV2Model``), built
with fresh weights (their ``load_pretrained_weights`` does nothing); molstrata reads the
checkpoint itself with ``weights_only`` (:func:`read_checkpoint`) and loads it
(:func:`_load_weights`). Nothing here imports torch or unimol-tools at import time.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from molstrata.core.errors import ConfigError, DataNotFoundError, OptionalDependencyError
from molstrata.encoders.conformer.conformer3d import load_fitting_state

__all__ = ["INSTALL_HINT", "build_unimol_v1", "build_unimol_v2", "read_checkpoint", "weight_dir"]

INSTALL_HINT = (
    '`pip install --no-deps "unimol-tools>=0.1.6,<0.2"` then `pip install "molstrata[unimol]"` '
    "(unimol-tools' own requirements would pin numpy<2.3 and pull training-only packages)"
)


def _unimol_module() -> Any:
    try:
        from unimol_tools.models import unimol
    except ImportError as exc:
        raise OptionalDependencyError(
            f"the Uni-Mol adapter needs unimol-tools ({exc}); install it with {INSTALL_HINT}"
        ) from exc
    return unimol


def weight_dir() -> Path:
    """Where unimol-tools keeps its weights: ``UNIMOL_WEIGHT_DIR`` or its package folder."""
    env = os.environ.get("UNIMOL_WEIGHT_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    # unimol-tools' own default (weights/weighthub.py: the folder of its ``weights`` package),
    # found without importing the package, which would import torch
    spec = importlib.util.find_spec("unimol_tools")
    if spec is None or not spec.submodule_search_locations:
        return Path("unimol_tools/weights")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "weights"


@contextmanager
def _architecture(module: Any, overrides: dict[str, Any]) -> Iterator[None]:
    """Temporarily change ``module.molecule_architecture()`` (layer count, test sizes)."""
    original = module.molecule_architecture

    def patched(*args: Any, **kwargs: Any) -> Any:
        arch = original(*args, **kwargs)
        arch.update(overrides)
        return arch

    module.molecule_architecture = patched
    try:
        yield
    finally:
        module.molecule_architecture = original


def build_unimol_v1(
    dict_path: str | Path, *, remove_hs: bool = False, num_layers: int | None = None,
    arch: dict[str, Any] | None = None,
) -> Any:
    """A ``UniMolModel`` (unimol-tools' class) with fresh weights, nothing downloaded or read
    but ``dict_path``.

    Parameters
    ----------
    dict_path : the checkpoint's token dictionary (``mol.dict.txt``)
    remove_hs : heavy-atom model (only changes which checkpoint matches)
    num_layers : build with this many transformer blocks (truncation at load)
    arch : other ``molecule_architecture()`` overrides (small configs in tests)
    """
    unimol = _unimol_module()

    class _UniMolNoDownload(unimol.UniMolModel):
        def load_pretrained_weights(self, path: Any, strict: bool = False) -> None:
            """Weights are loaded by molstrata (``weights_only``), never here."""

    overrides = dict(arch or {})
    if num_layers is not None:
        overrides["encoder_layers"] = int(num_layers)
    if not Path(dict_path).is_file():
        raise DataNotFoundError(f"Uni-Mol token dictionary not found: {dict_path}")
    with _architecture(unimol, overrides):
        model = _UniMolNoDownload(
            output_dim=1, data_type="molecule", pretrained_model_path="<molstrata>",
            pretrained_dict_path=str(dict_path), remove_hs=remove_hs,
        )
    return model.eval()


def read_checkpoint(path: str | Path, *, trust_checkpoint: bool = False) -> dict[str, Any]:
    """The state dict of a Uni-Mol ``.pt`` checkpoint, read with ``weights_only=True``.

    Uni-Core checkpoints also pickle an ``argparse.Namespace`` of training arguments, which
    is allowed explicitly. Legacy (non-zip) files and anything else need
    ``trust_checkpoint=True`` (the full unpickler: trusted files only).
    """
    from molstrata.core.safeload import TRUST_OPT_IN, load_tensors

    state = load_tensors(
        path, what="Uni-Mol checkpoint", allow_classes=[argparse.Namespace],
        trust=trust_checkpoint, opt_in=TRUST_OPT_IN,
    )
    for key in ("model", "model_state_dict"):
        if isinstance(state, dict) and key in state:
            state = state[key]
    if not isinstance(state, dict):
        raise ConfigError(f"Uni-Mol checkpoint {path} holds a {type(state).__name__}, not a state dict")
    return dict(state)


def _load_weights(model: Any, state: dict[str, Any], source: str) -> None:
    """Load a Uni-Mol state dict (its task head is not needed)."""
    load_fitting_state(model, state, source=source, skip=("classification_head.",),
                       what="is not a Uni-Mol v1 checkpoint for this architecture")


def build_unimol_v2(model_size: str = "84m", *, num_layers: int | None = None,
                    arch: dict[str, Any] | None = None) -> Any:
    """A ``UniMolV2Model`` (unimol-tools' class) with fresh weights; nothing is read."""
    _unimol_module()
    from unimol_tools.models import unimolv2

    class _UniMolV2NoDownload(unimolv2.UniMolV2Model):
        def load_pretrained_weights(self, path: Any, strict: bool = False) -> None:
            """Weights are loaded by molstrata (``weights_only``), never here."""

    overrides = dict(arch or {})
    if num_layers is not None:
        overrides["num_encoder_layers"] = int(num_layers)
    with _architecture(unimolv2, overrides):
        model = _UniMolV2NoDownload(output_dim=1, model_size=model_size,
                                    pretrained_model_path="<molstrata>")
    return model.eval()
