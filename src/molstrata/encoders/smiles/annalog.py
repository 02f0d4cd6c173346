"""ANNalog's SMILES encoder (the encoder half of its seq2seq transformer) as a molstrata encoder.

ANNalog (Wei Dai et al., ChemRxiv 2025, MIT) is a SMILES-to-SMILES seq2seq model for
medicinal-chemistry analogue generation. Its wheel ships the trained weights
(``annalog/ckpt_and_vocab/Lev_extended.pt``, a plain ``state_dict``) and the vocabulary
(``stereo_experiment_vocab_ttf.pkl``, a pickled dict of strings and ints). Only the encoder
is used: 3 post-norm transformer layers, 256-d, 8 heads, feed-forward 512, learned
positions for at most 102 tokens.

What layer ``k`` means
----------------------
- ``k = 0``: what the model feeds its first encoder layer,
  ``tok_embedding(token) * sqrt(256) + pos_embedding(position)`` (dropout off).
- ``k = 1, 2, 3``: the output of encoder layer ``k``; layer 3 is what the decoder attends to.

Tokens are ``<sos>`` + ANNalog's regex SMILES tokens + ``<eos>`` (the package's
``SimpleField``). Pooling covers the SMILES tokens only; ``<sos>``/``<eos>`` join with
``include_special``; ``cls`` reads ``<sos>``. Padding is masked out of attention, so a
molecule's states do not depend on its batch.

The architecture is rebuilt here (same parameter names) rather than imported, because
importing ``annalog`` needs its generation-time dependencies; the weights are read with
``torch.load(weights_only=True)`` (zip files only) and the vocabulary with an unpickler that
accepts no globals at all (:mod:`molstrata.core.safeload`). ``tests/encoders/test_annalog.py`` checks the states against the package's
own ``seq2seq_attention.Encoder`` when it can be imported.
"""

from __future__ import annotations

import importlib.util
import math
import re
import warnings
from pathlib import Path
from typing import Any

from molstrata.core.device import resolve_device
from molstrata.core.errors import ConfigError, DataNotFoundError, OptionalDependencyError
from molstrata.core.hashing import file_sha256
from molstrata.core.safeload import load_pickle_restricted, load_tensors
from molstrata.encoders.base import BatchStates, Encoder
from molstrata.encoders.card import EncoderCard

ANNALOG_PIP = "pip install --no-deps 'annalog==1.0.6'"
CKPT_NAME = "Lev_extended.pt"
VOCAB_NAME = "stereo_experiment_vocab_ttf.pkl"
HID_DIM, N_LAYERS, N_HEADS, PF_DIM, MAX_POSITIONS = 256, 3, 8, 512, 102
SPECIALS = ("<unk>", "<pad>", "<sos>", "<eos>")

#: ANNalog's tokenizer (REINVENT's): bracket atoms, then %NN ring closures, then Br/Cl,
#: then single characters
_TOKEN_RE = re.compile(r"(\[[^\]]*\]|%\d{2}|Br|Cl|.)")


def tokenize(smiles: str) -> list[str]:
    """ANNalog's SMILES tokens (``SMILESTokenizer.tokenize``), without ``<sos>``/``<eos>``."""
    return _TOKEN_RE.findall(smiles)


# ---------------------------------------------------------------------------- files
def annalog_files() -> tuple[Path, Path]:
    """``(checkpoint, vocabulary)`` inside the installed ``annalog`` wheel, without importing it."""
    spec = importlib.util.find_spec("annalog")
    if spec is None or not spec.submodule_search_locations:
        raise OptionalDependencyError(
            "the 'annalog' encoder needs the annalog wheel (it ships the weights). "
            f"Install it with: {ANNALOG_PIP}"
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "ckpt_and_vocab"
    ckpt, vocab = root / CKPT_NAME, root / VOCAB_NAME
    for path in (ckpt, vocab):
        if not path.is_file():
            raise DataNotFoundError(f"annalog is installed but {path} is missing; reinstall: {ANNALOG_PIP}")
    return ckpt, vocab


def load_vocab(path: str | Path) -> dict[str, int]:
    """ANNalog's token → index map (``stoi``); the file may hold only plain data.

    Read by :func:`molstrata.core.safeload.load_pickle_restricted` with an empty allowlist: a
    file that names any Python global is refused before anything in it runs.
    """
    path = Path(path)
    payload = load_pickle_restricted(path, allow=(), what="ANNalog vocabulary")
    if not isinstance(payload, dict) or not isinstance(payload.get("stoi"), dict):
        raise ConfigError(f"{path}: expected a dict with 'itos' and 'stoi'")
    stoi = {str(k): int(v) for k, v in payload["stoi"].items()}
    missing = [t for t in SPECIALS if t not in stoi]
    if missing:
        raise ConfigError(f"{path}: vocabulary lacks special tokens {missing}")
    return stoi


# ---------------------------------------------------------------------------- model
def _build_module(vocab_size: int, n_layers: int = N_LAYERS) -> Any:
    """ANNalog's encoder architecture, with the package's parameter names."""
    import torch
    from torch import nn

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc_q = nn.Linear(HID_DIM, HID_DIM)
            self.fc_k = nn.Linear(HID_DIM, HID_DIM)
            self.fc_v = nn.Linear(HID_DIM, HID_DIM)
            self.fc_o = nn.Linear(HID_DIM, HID_DIM)

        def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
            B, T, _ = x.shape  # B, T, D
            head = HID_DIM // N_HEADS

            def split(t: torch.Tensor) -> torch.Tensor:
                return t.view(B, T, N_HEADS, head).permute(0, 2, 1, 3)  # B, H, T, d

            q, k, v = split(self.fc_q(x)), split(self.fc_k(x)), split(self.fc_v(x))
            energy = q @ k.transpose(-1, -2) / math.sqrt(head)  # B, H, T, T
            energy = energy.masked_fill(~key_mask[:, None, None, :], -1e10)
            out = torch.softmax(energy, dim=-1) @ v  # B, H, T, d
            return self.fc_o(out.permute(0, 2, 1, 3).reshape(B, T, HID_DIM))

    class FeedForward(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc_1 = nn.Linear(HID_DIM, PF_DIM)
            self.fc_2 = nn.Linear(PF_DIM, HID_DIM)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc_2(torch.relu(self.fc_1(x)))

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.self_attn_layer_norm = nn.LayerNorm(HID_DIM)
            self.ff_layer_norm = nn.LayerNorm(HID_DIM)
            self.self_attention = Attention()
            self.positionwise_feedforward = FeedForward()

        def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
            x = self.self_attn_layer_norm(x + self.self_attention(x, key_mask))
            return self.ff_layer_norm(x + self.positionwise_feedforward(x))

    class AnnalogEncoderModule(nn.Module):
        """tokens (B, T) → list of n_layers + 1 states (B, T, 256)."""

        def __init__(self) -> None:
            super().__init__()
            self.tok_embedding = nn.Embedding(vocab_size, HID_DIM)
            self.pos_embedding = nn.Embedding(MAX_POSITIONS, HID_DIM)
            self.layers = nn.ModuleList([Layer() for _ in range(n_layers)])

        def forward(self, tokens: torch.Tensor, key_mask: torch.Tensor) -> list[torch.Tensor]:
            pos = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)  # 1, T
            # the package scales by torch.sqrt(FloatTensor([256])) = 16 exactly
            x = self.tok_embedding(tokens) * math.sqrt(HID_DIM) + self.pos_embedding(pos)
            states = [x]
            for layer in self.layers:
                x = layer(x, key_mask)
                states.append(x)
            return states

    return AnnalogEncoderModule()


class AnnalogEncoder(Encoder):
    """ANNalog's 3-layer SMILES transformer encoder; ``embed`` returns 4 layers of 256-d.

    Parameters
    ----------
    module : the encoder ``torch.nn.Module`` (weights loaded)
    stoi : token → index
    identity : facts hashed into cache keys
    max_layer : keep layers ``0 .. max_layer``
    device : torch device
    """

    name = "annalog"
    poolings = ("mean", "max", "sum", "cls")
    default_pooling = "mean"
    #: positions of the learned position embedding: <sos> + 100 SMILES tokens + <eos>
    max_length = MAX_POSITIONS

    def __init__(
        self,
        module: Any,
        stoi: dict[str, int],
        *,
        identity: dict[str, Any],
        max_layer: int | None = None,
        device: str | None = None,
    ) -> None:
        import torch

        if max_layer is not None and not 0 <= int(max_layer) <= N_LAYERS:
            raise ConfigError(f"max_layer={max_layer} out of range for 'annalog': layers 0..{N_LAYERS}")
        self.num_layers = N_LAYERS if max_layer is None else int(max_layer)
        self.stoi = dict(stoi)
        self._identity = dict(identity)
        self.device = torch.device(resolve_device(device))
        self._module = module.to(self.device).eval()
        self._unknown_seen: set[str] = set()

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), **self._identity}

    def truncate(self, n_layers: int) -> AnnalogEncoder:
        """A copy exposing layers ``0 .. n_layers`` (blocks above are not run)."""
        return AnnalogEncoder(
            self._module, self.stoi, identity=self._identity, max_layer=n_layers,
            device=str(self.device),
        )

    @property
    def module(self) -> Any:
        """The encoder ``torch.nn.Module`` (shared by truncated copies)."""
        return self._module

    def _size(self, smiles: str) -> int:
        return len(tokenize(smiles)) + 2  # with <sos> and <eos>

    def _sizes(self, smiles: list[str]) -> Any:
        import numpy as np

        return np.asarray([self._size(s) for s in smiles], dtype=np.int64)

    def encode_tokens(self, smiles: list[str]) -> tuple[Any, Any, list[int]]:
        """Token ids (B, T) with ``<sos>``/``<eos>``, right-padded; the key mask (B, T); rows cut.

        Inputs longer than 100 SMILES tokens keep their first 100 (the model has 102
        positions) and are reported as truncated.
        """
        import torch

        unk, pad, sos, eos = (self.stoi[t] for t in SPECIALS)
        seqs, cut, unknown = [], [], set()
        for i, s in enumerate(smiles):
            toks = tokenize(s)
            if len(toks) > MAX_POSITIONS - 2:
                toks = toks[: MAX_POSITIONS - 2]
                cut.append(i)
            unknown.update(t for t in toks if t not in self.stoi)
            seqs.append([sos, *(self.stoi.get(t, unk) for t in toks), eos])
        new = unknown - self._unknown_seen
        if new:
            self._unknown_seen |= new
            warnings.warn(
                f"ANNalog's vocabulary lacks the SMILES tokens {sorted(new)}; they are read as "
                "<unk>, as the package does",
                stacklevel=3,
            )
        width = max(len(q) for q in seqs)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        for i, q in enumerate(seqs):
            ids[i, : len(q)] = torch.tensor(q)
        return ids.to(self.device), (ids != pad).to(self.device), cut

    def _forward(self, smiles: list[str]) -> BatchStates:
        ids, key_mask, cut = self.encode_tokens(smiles)
        states = self._module(ids, key_mask)[: self.num_layers + 1]  # each B, T, 256
        sos, eos = self.stoi["<sos>"], self.stoi["<eos>"]
        special = (ids == sos) | (ids == eos)
        return BatchStates(
            hidden=states, mask=key_mask & ~special, special=special, cls_index=0,
            info={"truncated": cut},
        )


# ---------------------------------------------------------------------------- loader
def load_annalog(
    *,
    device: str | None = None,
    max_layer: int | None = None,
    random_init: bool = False,
    trust_remote_code: bool = False,
    seed: int = 0,
    **kw: Any,
) -> AnnalogEncoder:
    """Load ANNalog's encoder from the installed ``annalog`` wheel (offline).

    Parameters
    ----------
    device : ``"cpu"``, ``"cuda"``...; default CUDA when available
    max_layer : keep layers ``0 .. max_layer`` (at most 3)
    random_init : same architecture, fresh weights (xavier, as ANNalog trains), seeded by ``seed``
    trust_remote_code : unused (no remote code is ever run); accepted for a uniform signature
    seed : seed for ``random_init``

    Returns
    -------
    AnnalogEncoder whose ``embed`` gives ``num_layers + 1`` arrays (n_molecules, 256)
    """
    import torch

    if kw:
        raise ConfigError(
            f"unknown option(s) for 'annalog': {', '.join(sorted(kw))}; valid: device, "
            "max_layer, random_init, seed"
        )
    ckpt, vocab = annalog_files()
    stoi = load_vocab(vocab)
    module = _build_module(len(stoi))
    if random_init:
        from molstrata.core.seed import seed_everything

        seed_everything(seed)
        module = _build_module(len(stoi))
        for p in module.parameters():
            if p.dim() > 1:
                torch.nn.init.xavier_uniform_(p)
    else:
        state = load_tensors(ckpt, what="ANNalog checkpoint")
        enc = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
        module.load_state_dict(enc, strict=True)
    identity = {
        "weights_sha256": file_sha256(ckpt),
        "vocab_sha256": file_sha256(vocab),
        "random_init": bool(random_init),
        "seed": int(seed) if random_init else None,
    }
    return AnnalogEncoder(module, stoi, identity=identity, max_layer=max_layer, device=device)


def annalog_card() -> EncoderCard:
    """Model card of ``annalog``; ``weights_present`` says whether the wheel is installed."""
    try:
        annalog_files()
        present = True
    except (OptionalDependencyError, DataNotFoundError):
        present = False
    return EncoderCard(
        name="annalog",
        kind="smiles-transformer",
        num_layers=N_LAYERS,
        dims=[HID_DIM] * (N_LAYERS + 1),
        description=(
            "Encoder of ANNalog, a SMILES-to-SMILES seq2seq transformer for medchem analogue "
            "generation (3 layers, 256-d, 8 heads). Layer 0 = scaled token embedding + "
            "learned position embedding (the first layer's input); layers 1-3 = encoder "
            "layer outputs. Masked mean pooling over SMILES tokens by default."
        ),
        source="https://github.com/DVNecromancer/ANNalog (paper: "
        "https://chemrxiv.org/doi/10.26434/chemrxiv-2025-9c1v6); architecture rebuilt in "
        "molstrata with the package's parameter names",
        weights=f"annalog/ckpt_and_vocab/{CKPT_NAME} + {VOCAB_NAME} (in the annalog wheel)",
        how_to_get_weights=f"{ANNALOG_PIP}  (the weights need no other package; --no-deps "
        "avoids chembl-gen-check's 80 MB of bloom filters, used only for generation)",
        verified="every layer matches the package's seq2seq_attention.Encoder on the same "
        "tokens (tests/encoders/test_annalog.py)",
        license="MIT",
        trained_on="pairs of molecules tested in the same ChEMBL33 bioactivity assay, as "
        "SMILES aligned by Levenshtein distance (per the ANNalog paper's abstract)",
        warnings=[
            "Molecules are fed as RDKit canonical SMILES; the ANNalog CLI feeds "
            "MolToSmiles(canonical=False) of the input.",
            "Tokens outside its 55-token vocabulary (e.g. I, P, B, [Si], charged metals) are "
            "read as <unk>, as the package does; a warning names them.",
            "At most 100 SMILES tokens (102 positions); longer inputs are cut and counted.",
        ],
        extra=None,
        weights_present=present,
    )
