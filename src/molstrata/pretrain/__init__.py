"""Recipes that produced molstrata's built-in encoders: tokenizer, corpus, SMILES MLM, graph.

Nothing runs at import time; each recipe is a function (and a ``python -m`` entry point).
"""

from molstrata.pretrain.corpus import CorpusInfo, build_corpus
from molstrata.pretrain.tokenizer import SMILES_REGEX, build_smiles_tokenizer, regex_tokens

__all__ = ["SMILES_REGEX", "CorpusInfo", "build_corpus", "build_smiles_tokenizer", "regex_tokens"]
