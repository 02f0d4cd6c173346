"""The embedding prelude, written once: parse → canonicalise → check lengths → prepare →
sizes for batching → meta.

:meth:`Encoder.embed <molstrata.encoders.base.Encoder.embed>` and the cache
(:func:`molstrata.embeddings.embed_cached`) both start with :func:`plan_embedding` and end
with :meth:`EmbedPlan.result`; between them only the computing differs (all at once, or the
cache's missing chunks). Encoders take part through hooks only: ``_forward``,
``prepare`` (work done once for all fed strings with the user's row numbers, e.g. 3D
conformers) and ``row_meta`` (per-row facts for ``meta``, e.g. ``conformer_methods``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from molstrata.core.embeddings import LayerEmbeddings
from molstrata.data._smiles_cache import cached_parse_smiles
from molstrata.data.smiles import ParsedSmiles
from molstrata.encoders._sizes_memo import memo_sizes
from molstrata.encoders.pooling import Pooling

if TYPE_CHECKING:
    from molstrata.encoders.base import Encoder


@dataclass
class EmbedPlan:
    """One embedding request, decided before anything is computed.

    Attributes
    ----------
    encoder : the encoder that will run
    parsed : the parsed input, n_molecules rows
    rows : ndarray of int64, shape (n_valid,): row positions of the valid inputs
    fed : list of str, length n_valid: the strings fed to the model, in row order
    pooling : the pooling method
    cut : ndarray of int64, sorted: rows that will be cut to ``encoder.max_length``
    canonicalize, include_special : the request's options (recorded in ``meta``)
    row_meta : the encoder's per-row facts (:meth:`Encoder.row_meta`), added to ``meta``
    """

    encoder: Encoder
    parsed: ParsedSmiles
    rows: np.ndarray
    fed: list[str]
    pooling: Pooling
    cut: np.ndarray
    canonicalize: bool
    include_special: bool
    row_meta: dict[str, Any] = field(default_factory=dict)
    _size_of: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        """Number of input rows, valid or not."""
        return len(self.parsed.smiles)

    def sizes(self, strings: Sequence[str]) -> np.ndarray:
        """:meth:`Encoder._sizes` of ``strings``, shape (len(strings),) int64; each distinct
        string is measured once per request."""
        new = [s for s in dict.fromkeys(strings) if s not in self._size_of]
        if new:
            self._size_of.update(zip(new, np.asarray(self.encoder._sizes(new)).tolist(), strict=True))
        return np.asarray([self._size_of[s] for s in strings], dtype=np.int64)

    def scatter(self, pooled: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Put (n_valid, dim_k) arrays at their rows: (n_molecules, dim_k) float32, NaN where
        the input is invalid."""
        layers = []
        for arr in pooled:
            full = np.full((self.n, arr.shape[1]), np.nan, dtype=np.float32)
            full[self.rows] = arr
            layers.append(full)
        return layers

    def truncated(self, fed_positions: Sequence[int] = ()) -> list[int]:
        """Rows cut to ``max_length``: :attr:`cut` and the rows at ``fed_positions``
        (positions in :attr:`fed` the encoder reported as cut), sorted."""
        return sorted(set(self.cut.tolist()) | {int(self.rows[j]) for j in fed_positions})

    def meta(self, truncated: Sequence[int]) -> dict[str, Any]:
        """``LayerEmbeddings.meta``: what :meth:`Encoder._meta` reports, then :attr:`row_meta`."""
        meta = self.encoder._meta(self.parsed, list(truncated), self.canonicalize, self.include_special)
        return {**meta, **self.row_meta}

    def result(self, layers: Sequence[np.ndarray], truncated: Sequence[int], **extra: Any) -> LayerEmbeddings:
        """The :class:`LayerEmbeddings` of this request; ``extra`` is added to ``meta``."""
        return LayerEmbeddings(
            layers=tuple(layers), valid=self.parsed.valid, smiles=self.parsed.smiles,
            encoder=self.encoder.name, pooling=self.pooling.value,
            meta={**self.meta(truncated), **extra},
        )


def plan_embedding(
    encoder: Encoder,
    smiles: Sequence[str],
    *,
    pooling: str | Pooling | None = None,
    on_invalid: str = "raise",
    canonicalize: bool = True,
    include_special: bool = False,
    progress: bool | None = None,
) -> EmbedPlan:
    """Parse, pick the fed strings, apply the length policy, run the encoder's ``prepare``
    hook (with the user's row numbers) and collect its ``row_meta``.

    Raises before anything is computed: invalid SMILES (``on_invalid="raise"``), an unknown
    pooling, inputs too long (``on_too_long="raise"``), or what ``prepare`` raises.
    """
    method = encoder._check_pooling(pooling)
    parsed = cached_parse_smiles(smiles, on_invalid=on_invalid)
    rows = np.flatnonzero(parsed.valid)
    fed = encoder.fed_strings(parsed, canonicalize)
    plan = EmbedPlan(encoder, parsed, rows, fed, method, np.zeros(0, dtype=np.int64),
                     bool(canonicalize), bool(include_special))
    if encoder.max_length is not None and fed:
        plan.cut = encoder.check_lengths(fed, rows, sizes=memo_sizes(plan, fed))
    encoder.prepare(fed, rows=rows, progress=progress)
    plan.row_meta = encoder.row_meta(fed, rows, plan.n)
    return plan
