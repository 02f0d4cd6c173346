"""The one place encoders are named and loaded.

Each entry maps a public name to a loader ``"module:function"`` and a card
``"module:function"``, imported only when used, so listing encoders imports no model code.
Names that are not registered are tried as a local Hugging Face model folder or hub id.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from molstrata.core.errors import ConfigError

if TYPE_CHECKING:
    from molstrata.encoders.base import Encoder
    from molstrata.encoders.card import EncoderCard


@dataclass(frozen=True)
class EncoderEntry:
    """One registered encoder: its name, lazily imported loader and card, and the keyword
    arguments both are called with."""

    name: str
    loader: str  # "module:function" -> Encoder
    card: str  # "module:function" -> EncoderCard
    kwargs: tuple[tuple[str, Any], ...] = ()


_REGISTRY: dict[str, EncoderEntry] = {}
_ALIASES: dict[str, str] = {}
_PREFIXES: dict[str, str] = {}  # "chemprop:" -> loader taking the rest as path


def register_encoder(
    name: str, loader: str, card: str, *, aliases: tuple[str, ...] = (), **kwargs: Any
) -> None:
    """Register ``name`` (and ``aliases``) with lazily imported loader and card functions."""
    _REGISTRY[name] = EncoderEntry(name, loader, card, tuple(sorted(kwargs.items())))
    for alias in aliases:
        _ALIASES[alias] = name


def register_prefix(prefix: str, loader: str) -> None:
    """Names starting with ``prefix`` go to ``loader(rest, **options)``."""
    _PREFIXES[prefix] = loader


def _resolve(target: str) -> Callable[..., Any]:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def registered_names() -> list[str]:
    """Registered encoder names (aliases excluded), sorted."""
    return sorted(_REGISTRY)


def resolve_name(name: str) -> str:
    """Follow aliases: ``"default"`` → the encoder it stands for."""
    return _ALIASES.get(name, name)


def get_card(name: str) -> EncoderCard:
    """The model card of a registered encoder, with ``weights_present`` filled in."""
    entry = _REGISTRY.get(resolve_name(name))
    if entry is None:
        raise ConfigError(f"unknown encoder {name!r}.{_suggest(name)} Registered: "
                          f"{', '.join(registered_names())}")
    return _resolve(entry.card)(**dict(entry.kwargs))


def _trust_option(loader: Callable[..., Any], trust_checkpoint: bool) -> dict[str, bool]:
    """``{"trust_checkpoint": True}`` for loaders that unpickle checkpoints, else ``{}``."""
    if trust_checkpoint and "trust_checkpoint" in inspect.signature(loader).parameters:
        return {"trust_checkpoint": True}
    return {}


def load_encoder(
    name_or_path: str,
    *,
    device: str | None = None,
    max_layer: int | None = None,
    random_init: bool = False,
    trust_remote_code: bool = False,
    trust_checkpoint: bool = False,
    **options: Any,
) -> Encoder:
    """Load an encoder by registered name, ``prefix:path``, local HF folder or HF id.

    Parameters
    ----------
    name_or_path : a registered name (``molstrata encoders`` lists them), ``chemprop:<ckpt>``,
        a local Hugging Face model folder, or a hub id
    device : ``"cpu"``, ``"cuda"``...; default: CUDA when available, else CPU
    max_layer : keep only the first ``max_layer`` blocks (built truncated, not sliced)
    random_init : same architecture, freshly initialised weights (seeded by ``seed``)
    trust_remote_code : allow a model folder's own Python code to run (off by default)
    trust_checkpoint : let encoders that read pickled checkpoints (``chemprop:<path>``,
        ``admet-ai``, Uni-Mol) unpickle a file that names Python globals outside their exact
        allowlist, or a legacy (non-zip) torch file: that runs any code in the file, so only
        for files you trust (off by default; ignored by encoders that read tensors only)
    """
    common = dict(device=device, max_layer=max_layer, random_init=random_init, **options)
    name = resolve_name(name_or_path)
    if name in _REGISTRY:
        entry = _REGISTRY[name]
        loader = _resolve(entry.loader)
        common.update(_trust_option(loader, trust_checkpoint))
        return loader(**dict(entry.kwargs), trust_remote_code=trust_remote_code, **common)
    for prefix, target in _PREFIXES.items():
        if name.startswith(prefix):
            loader = _resolve(target)
            common.update(_trust_option(loader, trust_checkpoint))
            return loader(name[len(prefix):], trust_remote_code=trust_remote_code, **common)
    if is_hub_id(name):
        hf = _resolve("molstrata.encoders.smiles.hf:load_hf")
        return hf(name, trust_remote_code=trust_remote_code, **common)
    raise _unknown(name_or_path)


def is_hub_id(name: str) -> bool:
    """True for a local model folder or a string shaped like a hub id (``org/model``)."""
    path = Path(name).expanduser()
    return path.is_dir() or (name.count("/") == 1 and not path.exists() and not name.startswith((".", "/")))


def _suggest(name: str) -> str:
    from molstrata.encoders.hub import did_you_mean

    return did_you_mean(name, [*registered_names(), *_ALIASES])


def _unknown(name_or_path: str) -> ConfigError:
    return ConfigError(
        f"unknown encoder {name_or_path!r}: not a registered name, not a 'chemprop:<path>', "
        f"and not a model folder.{_suggest(name_or_path)} Registered: {', '.join(registered_names())}"
    )


def check_encoder_ref(name_or_path: str) -> None:
    """Fail fast, with no model loaded and nothing heavy imported (torch, transformers) and no
    data read: on a name that is neither registered, nor ``prefix:path``, nor a model folder,
    nor shaped like a hub id (the error :func:`load_encoder` would raise, with "did you
    mean"), and on a hub id that is neither in the Hugging Face cache nor downloadable now
    (:func:`molstrata.encoders.hub.check_hub_id`)."""
    name = resolve_name(name_or_path)
    if name in _REGISTRY or any(name.startswith(p) for p in _PREFIXES):
        return
    if not is_hub_id(name):
        raise _unknown(name_or_path)
    if not Path(name).expanduser().is_dir():
        from molstrata.encoders.hub import check_hub_id

        check_hub_id(name)


# ---------------------------------------------------------------------------- the registry
# Built-in, offline, shipped inside the package (issue: built-in pretrained encoders).
# ``default`` = the built-in model chosen on validation scores only (22 TDC tasks, seeds 1-5,
# each candidate against 3 random_init twins; benchmarks/default_decision.py, rule and counts
# in benchmarks/results/README.md): molstrata-graph since 2026-12-06
register_encoder(
    "molstrata-smiles", "molstrata.encoders.builtin:load_smiles", "molstrata.encoders.builtin:smiles_card"
)
register_encoder(
    "molstrata-graph", "molstrata.encoders.builtin:load_graph", "molstrata.encoders.builtin:graph_card",
    aliases=("default",),
)
# Real pretrained encoders shipped in PyPI wheels (issue: real pretrained encoders).
register_encoder("minimol", "molstrata.encoders.graph.minimol:load_minimol", "molstrata.encoders.graph.minimol:minimol_card")
register_encoder("annalog", "molstrata.encoders.smiles.annalog:load_annalog", "molstrata.encoders.smiles.annalog:annalog_card")
register_encoder(
    "admet-ai", "molstrata.encoders.graph.chemprop:load_admet_ai", "molstrata.encoders.graph.chemprop:admet_ai_card"
)
register_prefix("chemprop:", "molstrata.encoders.graph.chemprop:load_chemprop")
# The paper's encoders (issue 8): named HF SMILES models (encoders/zoo.py) and 3D models.
for _zoo_name in ("chemberta-77m-mlm", "chemberta-zinc-base", "chemgpt-4.7m", "molformer-xl"):
    register_encoder(_zoo_name, "molstrata.encoders.zoo:load_zoo", "molstrata.encoders.zoo:zoo_card", model=_zoo_name)
register_encoder("unimol-v1", "molstrata.encoders.conformer.unimol:load_unimol", "molstrata.encoders.conformer.unimol:unimol_card", version="v1")
register_encoder("unimol2-84m", "molstrata.encoders.conformer.unimol:load_unimol", "molstrata.encoders.conformer.unimol:unimol_card", version="v2", model_size="84m")
register_encoder("orb-v3-direct", "molstrata.encoders.conformer.orb:load_orb", "molstrata.encoders.conformer.orb:orb_card", variant="direct-20-omat")
register_encoder("orb-v3-conservative", "molstrata.encoders.conformer.orb:load_orb", "molstrata.encoders.conformer.orb:orb_card", variant="conservative-inf-omat")
register_encoder("pos-egnn", "molstrata.encoders.conformer.posegnn:load_posegnn", "molstrata.encoders.conformer.posegnn:posegnn_card")
