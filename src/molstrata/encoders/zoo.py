"""Named Hugging Face SMILES models from the layer-wise probing literature.

Each entry is a thin loader over :func:`molstrata.encoders.smiles.hf.load_hf` (every hidden state,
truncation at load, identity hashing) plus an :class:`EncoderCard`:

=====================  ==================================  ======  =============================
name                   Hugging Face id                     blocks  notes
=====================  ==================================  ======  =============================
``chemberta-77m-mlm``  ``DeepChem/ChemBERTa-77M-MLM``           3  RoBERTa, SMILES
``chemberta-zinc-base`` ``seyonec/ChemBERTa-zinc-base-v1``      6  RoBERTa, SMILES (BPE)
``chemgpt-4.7m``       ``ncfrey/ChemGPT-4.7M``                 24  GPT-Neo, **SELFIES** input
``molformer-xl``       ``ibm/MoLFormer-XL-both-10pct``         12  remote code, linear attention
=====================  ==================================  ======  =============================

The weights are read from the Hugging Face cache (or downloaded when the hub is reachable and
``HF_HUB_OFFLINE`` is unset), or from a local folder passed as ``path=``::

    load_encoder("chemberta-77m-mlm")                       # hub id, cache or download
    load_encoder("chemberta-77m-mlm", path="/models/cb77")   # a local snapshot
    load_encoder("molformer-xl", trust_remote_code=True)     # runs the checkpoint's own code

ChemGPT was trained on SELFIES: canonical SMILES are converted with the ``selfies`` package
(``pip install "molstrata[chemgpt]"``) before tokenisation. MoLFormer ships its own modeling
code; it runs only with ``trust_remote_code=True`` and is evaluated with
``deterministic_eval=True`` (no random attention features).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from molstrata.core.errors import ConfigError, OptionalDependencyError
from molstrata.encoders.base import BatchStates
from molstrata.encoders.card import EncoderCard
from molstrata.encoders.smiles.hf import HFEncoder, load_hf


@dataclass(frozen=True)
class ZooModel:
    """One named HF SMILES model: hub id, published architecture facts and notes."""

    name: str
    hub_id: str
    num_layers: int
    hidden_dim: int
    description: str
    license: str
    trained_on: str
    input: str = "smiles"  # or "selfies"
    remote_code: bool = False
    extra: str | None = None


ZOO: dict[str, ZooModel] = {
    m.name: m
    for m in (
        ZooModel(
            "chemberta-77m-mlm", "DeepChem/ChemBERTa-77M-MLM", 3, 384,
            "ChemBERTa-2 (Ahmad et al. 2022), RoBERTa with 3 blocks, 384 wide, masked-language "
            "model pretraining on 77M PubChem SMILES.",
            "MIT (DeepChem)", "77M PubChem SMILES (MLM); not TDC labels",
        ),
        ZooModel(
            "chemberta-zinc-base", "seyonec/ChemBERTa-zinc-base-v1", 6, 768,
            "ChemBERTa v1 (Chithrananda et al. 2020), RoBERTa with 6 blocks, 768 wide, BPE "
            "tokenizer, MLM pretraining on 100k ZINC SMILES.",
            "not stated on the model page", "100k ZINC SMILES (MLM)",
        ),
        ZooModel(
            "chemgpt-4.7m", "ncfrey/ChemGPT-4.7M", 24, 128,
            "ChemGPT (Frey et al. 2023), GPT-Neo decoder with 24 blocks, 128 wide, causal LM "
            "pretraining on SELFIES of 10M PubChem molecules. Inputs are converted to SELFIES.",
            "not stated on the model page", "10M PubChem molecules as SELFIES (causal LM)",
            input="selfies", extra="chemgpt",
        ),
        ZooModel(
            "molformer-xl", "ibm/MoLFormer-XL-both-10pct", 12, 768,
            "MoLFormer-XL (Ross et al. 2022), 12-block linear-attention transformer with rotary "
            "embeddings, 768 wide, MLM on 10% of ZINC + PubChem. Ships its own modeling code.",
            "Apache-2.0", "10% of ZINC15 + PubChem (about 111M SMILES, MLM)",
            remote_code=True,
        ),
    )
}


def _selfies_module() -> Any:
    try:
        import selfies
    except ImportError as exc:
        raise OptionalDependencyError(
            "ChemGPT reads SELFIES: install the converter with `pip install \"molstrata[chemgpt]\"` "
            "(or `pip install selfies`)"
        ) from exc
    return selfies


def to_selfies(smiles: list[str]) -> list[str]:
    """SMILES → SELFIES with the ``selfies`` package, one string per input, in order.

    Raises
    ------
    ConfigError naming the position and SMILES that SELFIES cannot encode (for example
    atoms whose valence SELFIES' default constraints forbid).
    """
    sf = _selfies_module()
    out = []
    for i, s in enumerate(smiles):
        try:
            enc = sf.encoder(s, strict=True)
        except sf.EncoderError as exc:
            enc = None
            why = str(exc).splitlines()[0]
        else:
            why = "empty result"
        if not enc:
            raise ConfigError(
                f"SELFIES cannot encode molecule {i} of the batch ({s!r}): {why}. ChemGPT only "
                "reads SELFIES; embed with on_invalid='mask' after removing it, or use a SMILES model."
            )
        out.append(enc)
    return out


class SelfiesHFEncoder(HFEncoder):
    """An :class:`HFEncoder` whose model reads SELFIES: inputs are converted first (ChemGPT).

    Every other behaviour (layers, pooling masks, truncation, identity) is the HF adapter's.
    """

    def _sizes(self, smiles: list[str]) -> np.ndarray:
        return super()._sizes(to_selfies(list(smiles)))

    def _forward(self, smiles: list[str]) -> BatchStates:
        return super()._forward(to_selfies(list(smiles)))

    def identity(self) -> dict[str, Any]:
        import selfies

        return {**super().identity(), "input": "selfies", "selfies_version": selfies.__version__}

    def truncate(self, n_layers: int) -> SelfiesHFEncoder:
        out = super().truncate(n_layers)
        out.__class__ = SelfiesHFEncoder
        return out


def _model(name: str) -> ZooModel:
    if name not in ZOO:
        raise ConfigError(f"unknown zoo model {name!r}; valid: {', '.join(ZOO)}")
    return ZOO[name]


def load_zoo(
    model: str,
    *,
    path: str | None = None,
    trust_remote_code: bool = False,
    **options: Any,
) -> HFEncoder:
    """Load a named HF SMILES model (see :data:`ZOO`).

    Parameters
    ----------
    model : key of :data:`ZOO`, e.g. ``"chemberta-77m-mlm"``
    path : local model folder to read instead of the hub id (same files as on the hub)
    trust_remote_code : needed for ``molformer-xl`` (its modeling code lives in the checkpoint)
    **options : passed to :func:`load_hf` (``device``, ``max_layer``, ``random_init``,
        ``revision``, ``max_length``, ``on_too_long``...)

    Returns
    -------
    HFEncoder (``SelfiesHFEncoder`` for ChemGPT) named ``name``; ``embed`` returns
    ``num_layers + 1`` arrays of shape (n_molecules, hidden_dim).
    """
    m = _model(model)
    name = m.name
    if m.input == "selfies":
        _selfies_module()  # fail before loading anything
    source = str(path) if path is not None else m.hub_id
    if m.remote_code and not trust_remote_code:
        raise ConfigError(
            f"{name} ({source}) runs Python code shipped with its checkpoint; load it only with "
            "trust_remote_code=True (CLI: --trust-remote-code) if you trust that code."
        )
    enc = load_hf(source, name=name, trust_remote_code=trust_remote_code, **options)
    if m.input == "selfies":
        enc.__class__ = SelfiesHFEncoder
        enc._identity = None
    return enc


def _weights_cached(hub_id: str, cache_dir: str | None = None) -> bool:
    """True when the HF cache (default: ``HF_HUB_CACHE``) holds the config and a weights file
    of ``hub_id``; no network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return False

    def cached(filename: str) -> bool:
        return isinstance(try_to_load_from_cache(hub_id, filename, cache_dir=cache_dir), str)

    weights = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
               "pytorch_model.bin.index.json")
    return cached("config.json") and any(cached(f) for f in weights)


def zoo_card(model: str) -> EncoderCard:
    """Model card of a :data:`ZOO` entry; ``weights_present`` checks the HF cache only."""
    m = _model(model)
    name = m.name
    how = (
        f"With network access: `molstrata embed --encoder {name}` downloads {m.hub_id} into the "
        "Hugging Face cache (unset HF_HUB_OFFLINE); offline: `huggingface-cli download "
        f"{m.hub_id}` elsewhere, copy the folder, and pass it as path= (Python) or the folder "
        "itself as --encoder."
    )
    warnings = []
    if m.remote_code:
        how += " Needs trust_remote_code=True (--trust-remote-code): the checkpoint's own code runs."
        warnings.append(
            "runs modeling code from the checkpoint (auto_map); evaluated with "
            "deterministic_eval=True"
        )
    if m.input == "selfies":
        warnings.append("inputs are converted to SELFIES; molecules SELFIES cannot encode fail by row")
    verified = (
        "offline only: the same transformers architecture class with random weights in a small "
        "config (tests/encoders/test_zoo.py, tests/encoders/test_hf.py): layer count, shapes, "
        "pooling vs raw hidden states, determinism, truncation == full prefix. Not yet run "
        "against the published weights (no hub access on the build machine)."
    )
    if m.remote_code:
        verified = (
            "offline only: a local folder with its own auto_map modeling code (refused without "
            "trust_remote_code, all layers with it, deterministic_eval set); MoLFormer's own "
            "modeling code was not available here and was not run."
        )
    return EncoderCard(
        name=name,
        kind="smiles-transformer",
        num_layers=m.num_layers,
        dims=[m.hidden_dim] * (m.num_layers + 1),
        description=m.description,
        source=f"transformers (HF adapter); checkpoint {m.hub_id}",
        weights=m.hub_id,
        how_to_get_weights=how,
        verified=verified,
        license=m.license,
        trained_on=m.trained_on,
        warnings=warnings,
        extra=m.extra,
        weights_present=_weights_cached(m.hub_id),
    )
