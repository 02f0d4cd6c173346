"""Atom-level regex SMILES tokenizer (Schwaller et al., Molecular Transformer, 2019).

The tokenizer is built with the ``tokenizers`` library (a ``WordLevel`` model behind a
``Split`` pre-tokenizer that isolates each regex match) and wrapped as a
``PreTrainedTokenizerFast`` with RoBERTa special tokens, so a saved folder loads with plain
``transformers.AutoTokenizer.from_pretrained(folder)``: no molstrata code needed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: The atom-level SMILES regex of Schwaller et al. (bracket atoms, two-letter halogens,
#: organic-subset atoms, bonds, branches, ring closures including ``%nn``).
SMILES_REGEX = (
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|\%[0-9]{2}|[0-9])"
)
_PATTERN = re.compile(SMILES_REGEX)

SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "pad_token": "<pad>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
    "cls_token": "<s>",
    "sep_token": "</s>",
}
#: ids 0..4, in RoBERTa's order (bos=0, pad=1, eos=2, unk=3) then mask
_SPECIAL_ORDER = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def regex_tokens(smiles: str) -> list[str]:
    """Split one SMILES into atom-level tokens with :data:`SMILES_REGEX`.

    Raises ``ValueError`` when the tokens do not join back into the input (a character the
    regex does not cover), so callers never silently lose characters.
    """
    tokens = _PATTERN.findall(smiles)
    if "".join(tokens) != smiles:
        raise ValueError(f"SMILES {smiles!r} has characters the tokenizer regex does not cover")
    return tokens


def build_vocab(smiles: Iterable[str], *, min_count: int = 1) -> list[str]:
    """Special tokens followed by every regex token seen at least ``min_count`` times.

    Sorted by decreasing frequency, then alphabetically, so the vocabulary is deterministic.
    """
    counts: Counter[str] = Counter()
    for s in smiles:
        counts.update(_PATTERN.findall(s))
    ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return _SPECIAL_ORDER + [t for t in ranked if t not in _SPECIAL_ORDER]


def build_smiles_tokenizer(
    smiles: Iterable[str] | None = None,
    *,
    vocab: list[str] | None = None,
    min_count: int = 1,
    model_max_length: int = 128,
) -> Any:
    """Build the regex SMILES tokenizer as a ``transformers.PreTrainedTokenizerFast``.

    Parameters
    ----------
    smiles : SMILES used to collect the vocabulary (ignored when ``vocab`` is given)
    vocab : explicit vocabulary; must start with the five special tokens
    min_count : rarer tokens map to ``<unk>``
    model_max_length : longest input, special tokens included

    Returns
    -------
    PreTrainedTokenizerFast that adds ``<s> ... </s>`` around each SMILES.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    if vocab is None:
        if smiles is None:
            raise ValueError("give either smiles (to collect a vocabulary) or vocab")
        vocab = build_vocab(smiles, min_count=min_count)
    if vocab[: len(_SPECIAL_ORDER)] != _SPECIAL_ORDER:
        raise ValueError(f"vocab must start with {_SPECIAL_ORDER}")
    ids = {tok: i for i, tok in enumerate(vocab)}
    tok = Tokenizer(models.WordLevel(vocab=ids, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(SMILES_REGEX), behavior="isolated")
    tok.post_processor = processors.RobertaProcessing(("</s>", ids["</s>"]), ("<s>", ids["<s>"]), trim_offsets=False, add_prefix_space=False)
    tok.decoder = decoders.Fuse()  # tokens join back without spaces
    tok.add_special_tokens(list(_SPECIAL_ORDER))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=model_max_length, **SPECIAL_TOKENS
    )
    return fast


def save_tokenizer(tokenizer: Any, folder: str | Path) -> Path:
    """Save with ``save_pretrained`` (loads back with ``AutoTokenizer.from_pretrained``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(folder))
    return folder
