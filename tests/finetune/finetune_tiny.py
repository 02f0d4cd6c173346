"""A tiny random RoBERTa behind the ``Encoder`` contract, for the finetune tests.

Character-level tokens (no tokenizer files), 2-4 blocks, 32 wide: built in milliseconds,
deterministic from a seed. ``truncate(k)`` builds a k-block model and copies the weights,
as the HF adapter's ``max_layer`` does.
"""

from __future__ import annotations

import copy

import torch

from molstrata.encoders.base import BatchStates, Encoder
from molstrata.encoders.card import EncoderCard

CHARS = "#%()+-./0123456789=@BCFHIKLNOPS[\\]abcilnoprs"
BOS, PAD, EOS, UNK = 0, 1, 2, 3
VOCAB = {c: i + 4 for i, c in enumerate(CHARS)}
MAX_CHARS = 48  # longer SMILES are cut: keeps the tests cheap


def tiny_roberta(n_layers: int = 4, hidden: int = 32, seed: int = 0, dropout: float = 0.1):
    from transformers import RobertaConfig, RobertaModel

    torch.manual_seed(seed)
    cfg = RobertaConfig(
        vocab_size=len(VOCAB) + 4, hidden_size=hidden, num_hidden_layers=n_layers,
        num_attention_heads=4, intermediate_size=2 * hidden, max_position_embeddings=160,
        pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS,
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
    )
    return RobertaModel(cfg, add_pooling_layer=False).eval()


class TinyRoberta(Encoder):
    def __init__(self, model, name: str = "tiny-roberta") -> None:
        self.model = model
        self.name = name
        self.num_layers = model.config.num_hidden_layers

    @property
    def module(self):
        return self.model

    def _forward(self, smiles: list[str]) -> BatchStates:
        rows = [[BOS] + [VOCAB.get(c, UNK) for c in s][:MAX_CHARS] + [EOS] for s in smiles]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), PAD, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
        attn = ids != PAD
        special = attn & ((ids == BOS) | (ids == EOS))
        device = next(self.model.parameters()).device
        out = self.model(input_ids=ids.to(device), attention_mask=attn.long().to(device),
                         output_hidden_states=True)
        return BatchStates(hidden=list(out.hidden_states), mask=(attn & ~special).to(device),
                           special=special.to(device), cls_index=0)

    def truncate(self, n_layers: int) -> TinyRoberta:
        from transformers import RobertaModel

        cfg = copy.deepcopy(self.model.config)
        cfg.num_hidden_layers = n_layers
        cut = RobertaModel(cfg, add_pooling_layer=False)
        missing, _unexpected = cut.load_state_dict(self.model.state_dict(), strict=False)
        assert not missing, missing
        return TinyRoberta(cut.eval(), self.name)


def load(*, n_layers: int = 3, hidden: int = 32, seed: int = 0, max_layer=None, **_ignored):
    enc = TinyRoberta(tiny_roberta(n_layers, hidden, seed), name="tiny-ft")
    return enc.truncate(max_layer) if max_layer is not None else enc


def card(**_ignored) -> EncoderCard:
    return EncoderCard(name="tiny-ft", kind="smiles-transformer", num_layers=3)
