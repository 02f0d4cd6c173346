"""Hugging Face ``transformers`` adapter for SMILES language models.

Covers encoder-only models (ChemBERTa-style RoBERTa, BERT), decoders (GPT-2, GPT-Neo such
as ChemGPT) and the encoder half of T5. One forward pass per batch with
``output_hidden_states=True``; layer 0 is the embedding output and layer k the output of
block k, exactly as HF's ``hidden_states`` counts them.

Truncation at load (``max_layer=k``) builds the model with k blocks. Decoders and T5 apply a
final norm to their last hidden state; a truncated model drops it (replaced by identity), so
its outputs equal the full model's ``hidden_states[:k+1]``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from molstrata.core.device import resolve_device
from molstrata.core.errors import ConfigError, OptionalDependencyError, check_choice
from molstrata.encoders.base import BatchStates, Encoder

#: names of the final norm that decoders / T5 apply after their last block
_FINAL_NORMS = ("ln_f", "final_layer_norm", "final_layernorm", "norm")
#: position-embedding offset of RoBERTa-style models (positions start at pad_token_id + 1)
_OFFSET_POSITION_TYPES = ("roberta", "camembert", "xlm-roberta", "xlm-roberta-xl", "longformer")


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars while loading."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def state_dict_sha256(module: Any) -> str:
    """sha256 over every parameter and buffer (name, dtype, shape, bytes), in name order."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(dtype=torch.uint8).numpy().tobytes())
    return h.hexdigest()


def tokenizer_sha256(tokenizer: Any) -> str:
    """sha256 of what decides token ids: the fast tokenizer's full JSON, or the vocabulary."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    extra = {
        "class": type(tokenizer).__name__,
        "special": sorted(map(str, tokenizer.all_special_tokens)),
        "padding_side": tokenizer.padding_side,
    }
    return hashlib.sha256((text + json.dumps(extra, sort_keys=True)).encode()).hexdigest()


def _layer_list(model: Any, n_layers: int) -> tuple[Any, str, Any]:
    """The ``nn.ModuleList`` of blocks: (parent module, attribute name, list).

    Found as the module list of length ``n_layers`` holding the most parameters.
    """
    import torch

    best = None
    for parent in model.modules():
        for attr, child in parent.named_children():
            if isinstance(child, torch.nn.ModuleList) and len(child) == n_layers:
                size = sum(p.numel() for p in child.parameters())
                if best is None or size > best[0]:
                    best = (size, parent, attr, child)
    if best is None:
        raise ConfigError(
            f"cannot find the {n_layers} blocks of {type(model).__name__} to truncate it"
        )
    return best[1], best[2], best[3]


def _drop_final_norm(parent: Any) -> list[str]:
    """Replace the final norm beside the block list by identity; returns what was replaced."""
    import torch

    dropped = []
    for attr in _FINAL_NORMS:
        if isinstance(getattr(parent, attr, None), torch.nn.Module):
            setattr(parent, attr, torch.nn.Identity())
            dropped.append(attr)
    return dropped


def _set_num_layers(config: Any, k: int) -> None:
    config.num_hidden_layers = k  # attribute maps route this to n_layer / num_layers
    layer_types = getattr(config, "layer_types", None)
    if isinstance(layer_types, list):
        config.layer_types = layer_types[:k]


def _num_layers(config: Any) -> int:
    n = getattr(config, "num_hidden_layers", None)
    if n is None:
        raise ConfigError(f"config of type {type(config).__name__} has no num_hidden_layers")
    return int(n)


class HFEncoder(Encoder):
    """A ``transformers`` model + tokenizer exposing every hidden state.

    Use :func:`load_hf` (or ``molstrata.load_encoder(folder_or_hub_id)``) to build one.

    Attributes
    ----------
    model : transformers.PreTrainedModel, in ``eval()`` mode
    tokenizer : transformers tokenizer (right padding)
    num_layers : int, blocks kept; ``embed`` returns ``num_layers + 1`` layers
    full_num_layers : int, blocks of the checkpoint
    max_length : int, longest input in tokens, special tokens included
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str,
        full_num_layers: int,
        max_length: int,
        on_too_long: str = "warn",
        facts: dict[str, Any] | None = None,
        dropped_norm: tuple[str, ...] = (),
    ) -> None:
        check_choice("on_too_long", on_too_long, ("warn", "raise"))
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.num_layers = _num_layers(model.config)
        self.full_num_layers = int(full_num_layers)
        self.max_length = int(max_length)
        self.on_too_long = on_too_long
        self.dropped_norm = tuple(dropped_norm)
        self._facts = dict(facts or {})
        if self.device.type != "cpu":  # accelerators like big batches; CPU gains nothing above ~4k
            self.token_budget, self.max_batch_size = 32768, 1024
        self._identity: dict[str, Any] | None = None
        first = tokenizer("C")["input_ids"]
        special_ids = set(tokenizer.all_special_ids)
        # cls pooling reads position 0: only meaningful when the tokenizer puts a special token there
        self.poolings = ("mean", "max", "sum", "cls") if first and first[0] in special_ids else (
            "mean", "max", "sum"
        )

    def __getstate__(self) -> dict[str, Any]:
        """Picklable after use too (executors ship encoders to worker processes).

        On its first forward pass transformers (5.x) hooks output-capturing closures onto
        the model that hold a ``ContextVar`` and cannot be pickled; the pickled state holds a
        copy without them, which installs its own on its first forward pass.
        """
        state = self.__dict__.copy()
        if any(getattr(m, "_output_capturing_hooks_installed", False) for m in self.model.modules()):
            import copy

            model = copy.deepcopy(self.model)
            for module in model.modules():
                for key, hook in list(module._forward_hooks.items()):
                    if getattr(hook, "__module__", "") == "transformers.utils.output_capturing":
                        del module._forward_hooks[key]
                if getattr(module, "_output_capturing_hooks_installed", False):
                    module._output_capturing_hooks_installed = False
            state["model"] = model
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # transformers (5.x) finds the outputs a model class can record (hidden states) in
        # a per-process registry that model __init__ fills; unpickling skips __init__
        try:
            from transformers.modeling_utils import PreTrainedModel
            from transformers.utils.output_capturing import _CAN_RECORD_REGISTRY
        except ImportError:  # transformers 4.x: no registry
            return
        for module in self.model.modules():
            if isinstance(module, PreTrainedModel):
                _CAN_RECORD_REGISTRY[module] = module._can_record_outputs

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def module(self) -> Any:
        """The ``transformers`` model (a ``torch.nn.Module``), truncated if asked."""
        return self.model

    def _sizes(self, smiles: list[str]) -> np.ndarray:
        with _quiet_transformers():
            ids = self.tokenizer(list(smiles), add_special_tokens=True, truncation=False)["input_ids"]
        return np.asarray([len(x) for x in ids], dtype=np.int64)

    def _size(self, smiles: str) -> int:
        return int(self._sizes([smiles])[0])

    def _forward(self, smiles: list[str]) -> BatchStates:

        enc = self.tokenizer(
            list(smiles), padding=True, truncation=True, max_length=self.max_length,
            return_tensors="pt", return_special_tokens_mask=True,
        )
        attention = enc["attention_mask"].bool()  # B, T
        special = enc.pop("special_tokens_mask").bool() & attention  # B, T
        inputs = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        kwargs: dict[str, Any] = {"output_hidden_states": True, "return_dict": True}
        if getattr(self.model.config, "use_cache", None) is not None:
            kwargs["use_cache"] = False
        out = self.model(**inputs, **kwargs)
        hidden = list(out.hidden_states)  # n_layers + 1 tensors, each B, T, d
        if len(hidden) != self.num_layers + 1:
            raise ConfigError(
                f"{type(self.model).__name__} returned {len(hidden)} hidden states, expected "
                f"{self.num_layers + 1}"
            )
        return BatchStates(
            hidden=hidden,
            mask=(attention & ~special).to(self.device),
            special=special.to(self.device),
            cls_index=0,
        )

    def identity(self) -> dict[str, Any]:
        """Weights (sha256 of the loaded parameters), HF revision when known, tokenizer hash,
        config hash, blocks kept, max length and whether a final norm was dropped."""
        if self._identity is None:
            self._identity = {
                "class": type(self).__name__,
                "name": self.name,
                "model_class": type(self.model).__name__,
                "weights_sha256": state_dict_sha256(self.model),
                "tokenizer_sha256": tokenizer_sha256(self.tokenizer),
                # the folder a model was read from is not part of what it computes
                "config_sha256": _sha256_json({k: v for k, v in self.model.config.to_dict().items()
                                               if k != "_name_or_path"}),
                "num_layers": self.num_layers,
                "full_num_layers": self.full_num_layers,
                "max_length": self.max_length,
                "dropped_final_norm": list(self.dropped_norm),
                **self._facts,
            }
        return dict(self._identity)

    def truncate(self, n_layers: int) -> HFEncoder:
        """A copy keeping the first ``n_layers`` blocks; its layers equal this encoder's
        first ``n_layers + 1`` outputs. The blocks above are not copied."""
        n_layers = int(n_layers)
        if not 1 <= n_layers <= self.num_layers:
            raise ConfigError(
                f"cannot truncate {self.name!r} to {n_layers} blocks; it has {self.num_layers} "
                "(Hugging Face models keep at least 1)"
            )
        model = _truncated_copy(self.model, n_layers, self.num_layers)
        dropped = self.dropped_norm
        if n_layers < self.num_layers and not dropped:
            dropped = tuple(_drop_final_norm(_layer_list(model, n_layers)[0]))
        return HFEncoder(
            model, self.tokenizer, name=self.name, full_num_layers=self.full_num_layers,
            max_length=self.max_length, on_too_long=self.on_too_long, facts=self._facts,
            dropped_norm=dropped,
        )


def _truncated_copy(model: Any, k: int, n: int) -> Any:
    """Deep copy of ``model`` with only its first ``k`` of ``n`` blocks (others not copied)."""
    import torch

    parent, attr, blocks = _layer_list(model, n)
    # copy everything except the blocks we drop: swap in a short list while copying
    short = torch.nn.ModuleList(list(blocks)[:k])
    setattr(parent, attr, short)
    try:
        clone = copy.deepcopy(model)
    finally:
        setattr(parent, attr, blocks)
    _set_num_layers(clone.config, k)
    return clone.eval()


def _raw_config(name_or_path: str, revision: str | None) -> dict[str, Any]:
    from transformers import PretrainedConfig

    try:
        with _quiet_transformers():
            raw, _ = PretrainedConfig.get_config_dict(name_or_path, revision=revision)
    except OSError as exc:
        from molstrata.core.errors import DataNotFoundError

        raise DataNotFoundError(
            f"cannot read a Hugging Face config for {name_or_path!r}: {exc}. Pass a local model "
            "folder, or a hub id already in the Hugging Face cache (no network is used when "
            "HF_HUB_OFFLINE=1)."
        ) from exc
    return raw


def _encoder_half_only(config: Any) -> bool:
    """True for encoder-decoder families (T5) whose encoder alone is the molecule encoder."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES

    if getattr(config, "is_encoder_decoder", False):
        return True
    target = MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES.get(getattr(config, "model_type", ""), "")
    return target.endswith("EncoderModel")


def _default_max_length(tokenizer: Any, config: Any) -> int:
    limits = []
    if 0 < int(getattr(tokenizer, "model_max_length", 0) or 0) < 1_000_000:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if positions:
        if getattr(config, "model_type", "") in _OFFSET_POSITION_TYPES:
            positions -= int(getattr(config, "pad_token_id", 0) or 0) + 1
        limits.append(int(positions))
    return min(limits) if limits else 512


def load_hf(
    name_or_path: str,
    *,
    device: str | None = None,
    max_layer: int | None = None,
    random_init: bool = False,
    trust_remote_code: bool = False,
    seed: int = 0,
    max_length: int | None = None,
    on_too_long: str = "warn",
    revision: str | None = None,
    name: str | None = None,
    dtype: str = "float32",
    **kw: Any,
) -> HFEncoder:
    """Load a Hugging Face SMILES model as an :class:`HFEncoder`.

    Parameters
    ----------
    name_or_path : local model folder (``config.json`` + weights + tokenizer) or hub id
    device : ``"cpu"``, ``"cuda"``...; default CUDA when available
    max_layer : keep the first ``max_layer`` blocks; the model is built with only those
    random_init : same config, fresh weights drawn with ``seed`` (a depth baseline)
    trust_remote_code : allow the folder's own Python code (``auto_map``) to run
    seed : seed of ``random_init``
    max_length : longest input in tokens (special tokens included); default: the smaller of
        the tokenizer's ``model_max_length`` and the model's position limit
    on_too_long : ``"warn"`` (default; cut, warn, report rows) or ``"raise"``
    revision : hub revision (branch, tag or commit)
    name : the encoder's name in outputs and cache keys; default ``name_or_path``
    dtype : ``"float32"`` (default), ``"bfloat16"`` or ``"float16"``
    **kw : passed to ``from_pretrained``

    Returns
    -------
    HFEncoder in ``eval()`` mode on ``device``.
    """
    if not Path(name_or_path).expanduser().is_dir():  # a hub id: fail fast when unreachable
        from molstrata.encoders.hub import check_hub_id

        check_hub_id(str(name_or_path), revision)
    try:
        import transformers
        from transformers import AutoConfig, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - transformers is a core dependency
        raise OptionalDependencyError("the HF adapter needs `pip install transformers`") from exc

    check_choice("on_too_long", on_too_long, ("warn", "raise"))
    check_choice("dtype", dtype, ("float32", "bfloat16", "float16"))
    raw = _raw_config(name_or_path, revision)
    _check_remote_code(raw, name_or_path, trust_remote_code, transformers.CONFIG_MAPPING)
    with _quiet_transformers():
        config = AutoConfig.from_pretrained(name_or_path, revision=revision, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(
            name_or_path, revision=revision, trust_remote_code=trust_remote_code
        )
    if "deterministic_eval" in raw or raw.get("model_type") == "molformer":
        config.deterministic_eval = True  # MoLFormer: no random features at eval
    full = _num_layers(config)
    k = _kept_layers(max_layer, full, name_or_path)
    if tokenizer.pad_token is None:  # GPT-2 style: pad with EOS (masked out anyway)
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"
    model = _build_model(name_or_path, config, k, full, random_init=random_init, seed=seed,
                         revision=revision, trust_remote_code=trust_remote_code, dtype=dtype, kw=kw)
    dropped: tuple[str, ...] = ()
    if k < full:
        dropped = tuple(_drop_final_norm(_layer_list(model, k)[0]))
    model = model.to(resolve_device(device)).eval()
    max_length = _max_length(tokenizer, config, max_length, name_or_path)
    facts = _facts(name_or_path, raw, config, revision, random_init, seed)
    return HFEncoder(
        model, tokenizer, name=name or str(name_or_path), full_num_layers=full,
        max_length=int(max_length), on_too_long=on_too_long, facts=facts, dropped_norm=dropped,
    )


def _check_remote_code(raw: dict, name_or_path: str, trust_remote_code: bool, known_types: Any) -> None:
    """Refuse a model that ships its own code (``auto_map``) unless ``trust_remote_code``."""
    known = raw.get("model_type") in known_types
    if raw.get("auto_map") and not known and not trust_remote_code:
        raise ConfigError(
            f"model {name_or_path!r} ships its own Python code (config.json auto_map: "
            f"{sorted(raw['auto_map'])}); it runs only with trust_remote_code=True "
            "(CLI: --trust-remote-code). Pass it only if you trust that code."
        )


def _kept_layers(max_layer: int | None, full: int, name_or_path: str) -> int:
    """The number of blocks kept: ``max_layer`` (checked against ``full``) or all."""
    if max_layer is not None and not 1 <= int(max_layer) <= full:
        raise ConfigError(
            f"max_layer={max_layer} is out of range for {name_or_path!r}: it has {full} blocks "
            "(Hugging Face models keep at least 1; layer 0 is in every embed output)"
        )
    return full if max_layer is None else int(max_layer)


def _build_model(
    name_or_path: str, config: Any, k: int, full: int, *, random_init: bool, seed: int,
    revision: str | None, trust_remote_code: bool, dtype: str, kw: dict[str, Any],
) -> Any:
    """The model with its first ``k`` of ``full`` blocks: pretrained, or fresh with ``seed``."""
    import torch
    from transformers import AutoModel

    auto = AutoModel
    if _encoder_half_only(config):
        from transformers import AutoModelForTextEncoding as auto  # T5: the encoder only
    torch_dtype = getattr(torch, dtype)
    with _quiet_transformers():
        if random_init:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                model = auto.from_config(config, trust_remote_code=trust_remote_code, dtype=torch_dtype)
            if k < full:
                model = _truncated_copy(model, k, full)
        else:
            if k < full:
                _set_num_layers(config, k)
            # weights the checkpoint lacks (e.g. an MLM checkpoint's pooler) are drawn fresh by
            # transformers: seed them, so the model, its weights hash and the cache are stable
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = auto.from_pretrained(
                    name_or_path, config=config, revision=revision,
                    trust_remote_code=trust_remote_code, dtype=torch_dtype, **kw,
                )
    return model


def _max_length(tokenizer: Any, config: Any, max_length: int | None, name_or_path: str) -> int:
    """``max_length`` checked against the model's limit, or that limit."""
    limit = _default_max_length(tokenizer, config)
    if max_length is None:
        return limit
    if int(max_length) > limit:
        raise ConfigError(f"max_length={max_length} exceeds what {name_or_path!r} allows ({limit} tokens)")
    return max_length


def _facts(
    name_or_path: str, raw: dict, config: Any, revision: str | None, random_init: bool, seed: int,
) -> dict[str, Any]:
    """The identity facts of a loaded model (where it comes from, how it was built)."""
    facts: dict[str, Any] = {
        # a hub id names the model; a local folder's place does not (its weights, tokenizer
        # and config hashes do), so a moved or installed-elsewhere folder keeps its identity
        "source": "local folder" if Path(str(name_or_path)).is_dir() else str(name_or_path),
        "revision": revision or getattr(config, "_commit_hash", None),
        "random_init": bool(random_init),
    }
    if random_init:
        facts["seed"] = int(seed)
    if "deterministic_eval" in raw or raw.get("model_type") == "molformer":
        facts["deterministic_eval"] = True
    return facts
