"""The ``Encoder`` contract shared by every adapter.

An adapter implements one hook, :meth:`Encoder._forward`, which runs a batch of canonical
SMILES through the model once and returns the states of every layer as
:class:`BatchStates`. The base class owns the fixed flow: parse → bucket by size → forward
once per batch → pool → restore input order, so every adapter gets validity masks,
batching, OOM recovery and progress bars for free (molfeat's convert → embed split).

By default molecules are fed to the model as RDKit canonical SMILES, so that an embedding
depends on the molecule, not on how its SMILES was written, and the cache can key on it.
``canonicalize=False`` feeds the validated input strings as given, less outer whitespace (randomised-SMILES
augmentation); the cache then keys on those strings.

Inputs longer than an encoder's ``max_length`` follow its ``on_too_long`` policy:
``"warn"`` (the default: cut to ``max_length``, warn, and list the rows in
``LayerEmbeddings.meta["truncated_rows"]``) or ``"raise"`` (:class:`InputTooLongError`
naming the rows, before anything is computed). Truncation is never silent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molstrata.core.embeddings import LayerEmbeddings
from molstrata.core.errors import ConfigError, MolstrataError
from molstrata.data.smiles import ASCII_WHITESPACE, ParsedSmiles, parse_smiles
from molstrata.encoders.flow import embed_canonical, iter_batches
from molstrata.encoders.pooling import Pooling
from molstrata.encoders.prelude import plan_embedding


@dataclass
class BatchStates:
    """Every layer's states for one batch of B molecules, padded to T positions.

    Attributes
    ----------
    hidden : list of torch.Tensor, length n_layers + 1, each (B, T, d_k)
        Layer 0 is the input embedding output; layer k the output of block k.
    mask : torch.Tensor of bool, (B, T)
        True on the positions that ``mean``/``max``/``sum`` pool: content tokens or atoms.
        Padding and special tokens are False.
    special : torch.Tensor of bool, (B, T) or None
        True on real (non-padding) special tokens, added to ``mask`` when the caller asks
        to include special tokens.
    cls_index : int
        The position ``cls`` pooling reads (0 for BERT-style models).
    info : dict
        Per-batch facts such as how many inputs were truncated.
    """

    hidden: list[Any]
    mask: Any
    special: Any | None = None
    cls_index: int = 0
    info: dict = field(default_factory=dict)


class InputTooLongError(MolstrataError, ValueError):
    """Some inputs are longer than the encoder's maximum length and ``on_too_long="raise"``.

    Attributes
    ----------
    indices : list of int, row positions (0-based, input order) of the inputs too long
    lengths : list of int, their lengths (tokens, special tokens included)
    max_length : int
    """

    def __init__(self, indices: Sequence[int], lengths: Sequence[int], max_length: int, name: str):
        self.indices = [int(i) for i in indices]
        self.lengths = [int(x) for x in lengths]
        self.max_length = int(max_length)
        shown = ", ".join(f"row {i} ({n} tokens)" for i, n in list(zip(self.indices, self.lengths, strict=True))[:10])
        more = f" (and {len(self.indices) - 10} more)" if len(self.indices) > 10 else ""
        super().__init__(
            f"{len(self.indices)} input(s) longer than max_length={max_length} of encoder "
            f"{name!r}: {shown}{more}. Pass on_too_long='warn' to cut them (reported in "
            "meta['truncated_rows']) or a larger max_length if the model allows it."
        )


class Encoder(ABC):
    """A pretrained molecular encoder that exposes every layer.

    Subclasses set ``name`` and ``num_layers`` (the number of blocks: ``embed`` returns
    ``num_layers + 1`` layer outputs) and implement :meth:`_forward`. Adapters with a length
    limit set ``max_length`` and override :meth:`_sizes` to return token counts.
    """

    name: str = "encoder"
    num_layers: int = 0
    #: poolings this encoder supports
    poolings: tuple[str, ...] = ("mean", "max", "sum", "cls")
    default_pooling: str = "mean"
    #: padded positions (molecules x longest) per batch when no ``batch_size`` is given
    token_budget: int = 4096
    #: most molecules per batch under the token budget
    max_batch_size: int = 256
    #: longest input in tokens (special tokens included); ``None``: no limit
    max_length: int | None = None
    #: what to do with longer inputs: ``"warn"`` (cut, warn, report) or ``"raise"``
    on_too_long: str = "warn"

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _forward(self, smiles: list[str]) -> BatchStates:
        """Run the model once on ``smiles`` (validated strings); keep every layer."""

    def _size(self, smiles: str) -> int:
        """Approximate input length of one molecule, used to bucket batches by size."""
        return len(smiles)

    def _sizes(self, smiles: list[str]) -> np.ndarray:
        """Input lengths of many molecules, shape (n_molecules,), int64.

        For transformers: tokens including special tokens, before any truncation.
        """
        return np.asarray([self._size(s) for s in smiles], dtype=np.int64)

    def prepare(self, smiles: Sequence[str], *, rows: np.ndarray | None = None,
                progress: bool | None = None) -> None:
        """Hook: work done once for all fed strings before the first batch (e.g. 3D
        conformers); errors name ``rows``, the input row of each string. Default: nothing.

        Parameters
        ----------
        smiles : the fed strings, length n_valid
        rows : ndarray of int, shape (n_valid,), their row positions in the user's input
        progress : show a progress bar (``None``: the encoder decides)
        """
        return None

    def row_meta(self, smiles: Sequence[str], rows: np.ndarray, n_rows: int) -> dict[str, Any]:
        """Hook: per-row facts added to ``LayerEmbeddings.meta`` (e.g. ``conformer_methods``,
        lists of length ``n_rows``), after :meth:`prepare`. Default: none.

        Parameters
        ----------
        smiles : the fed strings, length n_valid
        rows : ndarray of int, shape (n_valid,), their row positions
        n_rows : number of input rows, valid or not
        """
        return {}

    def identity(self) -> dict[str, Any]:
        """Facts that define this encoder's outputs, hashed into cache keys.

        Must change whenever the weights, tokenizer, truncation or input policy change.
        """
        return {
            "name": self.name, "num_layers": self.num_layers, "class": type(self).__name__,
            "max_length": self.max_length,
        }

    def truncate(self, n_layers: int) -> Encoder:
        """A copy keeping only the first ``n_layers`` blocks (layers above hold no memory)."""
        raise ConfigError(f"encoder {self.name!r} does not support truncation")

    @property
    def module(self) -> Any:
        """The underlying trainable ``torch.nn.Module`` (for finetuning)."""
        raise ConfigError(f"encoder {self.name!r} exposes no trainable module")

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def fed_strings(parsed: ParsedSmiles, canonicalize: bool = True) -> list[str]:
        """The strings fed to the model for the valid rows of ``parsed``, in row order."""
        if canonicalize:
            return [parsed.canonical[i] for i in np.flatnonzero(parsed.valid)]
        return [parsed.smiles[i].strip(ASCII_WHITESPACE) for i in np.flatnonzero(parsed.valid)]

    def check_lengths(
        self, fed: list[str], rows: np.ndarray, *, sizes: np.ndarray | None = None
    ) -> np.ndarray:
        """Apply the ``on_too_long`` policy before computing anything.

        Parameters
        ----------
        fed : list of str, the strings about to be fed
        rows : ndarray of int, shape (len(fed),), their row positions in the user's input
        sizes : precomputed :meth:`_sizes` of ``fed``

        Returns
        -------
        ndarray of int: the input rows that will be cut to ``max_length`` (sorted).
        """
        if self.max_length is None or not fed:
            return np.zeros(0, dtype=np.int64)
        sizes = self._sizes(fed) if sizes is None else sizes
        long = np.flatnonzero(np.asarray(sizes) > self.max_length)
        if len(long) == 0:
            return np.zeros(0, dtype=np.int64)
        if self.on_too_long == "raise":
            raise InputTooLongError(rows[long], np.asarray(sizes)[long], self.max_length, self.name)
        import warnings

        shown = ", ".join(str(int(r)) for r in rows[long][:10])
        warnings.warn(
            f"{len(long)} input(s) longer than max_length={self.max_length} of encoder "
            f"{self.name!r} were cut to it (rows {shown}{'...' if len(long) > 10 else ''}); "
            "they are listed in the result's truncated rows (a run's notes/molecules.csv)",
            stacklevel=4,  # check_lengths <- plan_embedding <- embed / embed_cached <- caller
        )
        return np.sort(rows[long]).astype(np.int64)

    # ------------------------------------------------------------------ flow
    def embed(
        self,
        smiles: Sequence[str],
        *,
        pooling: str | Pooling | None = None,
        batch_size: int | None = None,
        on_invalid: str = "raise",
        include_special: bool = False,
        progress: bool | None = None,
        canonicalize: bool = True,
        token_budget: int | None = None,
    ) -> LayerEmbeddings:
        """Embed ``smiles`` and return every layer, pooled (no cache; see
        :func:`molstrata.embeddings.embed_cached`).

        Parameters
        ----------
        smiles : sequence of str, length n_molecules
        pooling : one of :attr:`poolings`; defaults to :attr:`default_pooling`
        batch_size : at most this many molecules per forward pass (halved automatically on
            out-of-memory); default: batches filled up to :attr:`token_budget`
        on_invalid : ``"raise"`` or ``"mask"`` (NaN rows, ``valid`` False; rows never shift)
        include_special : pool special tokens too (mean/max/sum)
        progress : show a progress bar; default: only for more than 2,000 molecules
        canonicalize : feed RDKit canonical SMILES (default) or the validated inputs as given
        token_budget : padded positions per batch (default :attr:`token_budget`)

        Returns
        -------
        LayerEmbeddings with ``num_layers + 1`` arrays of shape (n_molecules, dim_k);
        ``meta`` holds ``truncated_rows``, ``n_truncated``, ``invalid_rows`` (with
        ``invalid_reasons``, aligned), ``canonicalize`` and ``identity``.
        """
        plan = plan_embedding(
            self, smiles, pooling=pooling, on_invalid=on_invalid, canonicalize=canonicalize,
            include_special=include_special, progress=progress,
        )
        pooled, info = embed_canonical(
            self, plan.fed, pooling=plan.pooling, batch_size=batch_size, token_budget=token_budget,
            include_special=include_special, progress=progress, sizes=plan.sizes(plan.fed),
        )
        return plan.result(plan.scatter(pooled), plan.truncated(info["truncated_rows"]))

    def _meta(
        self, parsed: ParsedSmiles, truncated: list[int], canonicalize: bool, include_special: bool
    ) -> dict[str, Any]:
        return {
            "truncated_rows": [int(r) for r in truncated],
            "n_truncated": len(truncated),
            "invalid_rows": [int(r) for r in parsed.invalid_indices],
            "invalid_reasons": list(parsed.invalid_reasons.values()),
            "canonicalize": bool(canonicalize),
            "include_special": bool(include_special),
            "max_length": self.max_length,
            "identity": self.identity(),
        }

    def token_states(
        self,
        smiles: Sequence[str],
        *,
        batch_size: int | None = None,
        include_special: bool = False,
        canonicalize: bool = True,
        token_budget: int | None = None,
    ) -> list[list[np.ndarray]]:
        """Unpooled states: ``out[k][i]`` is molecule i's (n_tokens_i, dim_k) array at layer k.

        Only the positions in the pooling mask are kept (content tokens or atoms; special
        tokens too when ``include_special``). Raises on invalid SMILES. Batches are bucketed
        by size; the input order is restored. Used by the label-free analysis (token
        entropy, curvature, randomised-SMILES augmentation with ``canonicalize=False``).
        """
        parsed = parse_smiles(smiles, on_invalid="raise")
        fed = self.fed_strings(parsed, canonicalize)
        self.check_lengths(fed, np.arange(len(fed)))
        n = len(fed)
        out: list[list[Any]] = []
        for rows, states in iter_batches(
            self, fed, batch_size=batch_size, token_budget=token_budget
        ):
            mask = states.mask
            if include_special and states.special is not None:
                mask = mask | states.special
            mask = mask.bool().cpu()
            if not out:
                out = [[None] * n for _ in states.hidden]
            for k, h in enumerate(states.hidden):
                h = h.float().cpu()
                for b, row in enumerate(rows):
                    out[k][int(row)] = h[b][mask[b]].numpy().copy()
        return out

    def _check_pooling(self, pooling: str | Pooling | None) -> Pooling:
        method = Pooling.parse(pooling or self.default_pooling)
        if method.value not in self.poolings:
            raise ConfigError(
                f"encoder {self.name!r} does not support pooling {method.value!r}; "
                f"valid: {', '.join(self.poolings)}"
            )
        return method

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, num_layers={self.num_layers})"
