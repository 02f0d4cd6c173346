"""Tiny random Hugging Face models and a small SMILES tokenizer, shared by tests.

Imported by ``conftest.py`` fixtures and by tests that build their own folders.
"""

from __future__ import annotations

from pathlib import Path

_TINY_REGEX = (
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|\%[0-9]{2}|[0-9])"
)
_TINY_SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
_TINY_TOKENS = list("CNOSPFIBcnosp()=#-+/\\.@123456789") + [
    "Cl", "Br", "[nH]", "[C@@H]", "[C@H]", "[C@@]", "[C@]", "[O-]", "[N+]", "[NH+]", "[Na+]",
    "[Cl-]", "[S+]", "[n+]", "[NH3+]", "[2H]",
]


def build_tiny_tokenizer(model_max_length: int = 64, *, bos_eos: bool = True):
    """A WordLevel regex SMILES tokenizer (RoBERTa special tokens) as PreTrainedTokenizerFast."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(_TINY_SPECIAL + _TINY_TOKENS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(_TINY_REGEX), behavior="isolated")
    if bos_eos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", mask_token="<mask>", model_max_length=model_max_length,
    )


def save_tiny(folder: Path, model, tokenizer) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
