"""Shared fixtures. No test needs the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tiny_models import build_tiny_tokenizer, save_tiny  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _data_dir() -> Path:
    env = os.environ.get("MOLSTRATA_DATA_DIR", "").strip()
    return Path(env) if env else SHARED / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The TDC/MoleculeNet data folder (``MOLSTRATA_DATA_DIR`` or ``../shared/data``)."""
    path = _data_dir()
    if not (path / "admet_group").is_dir():
        pytest.fail(f"test data not found at {path}; set MOLSTRATA_DATA_DIR to ../shared/data")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repository (fixtures, data)."""
    return SHARED


@pytest.fixture(autouse=True, scope="session")
def _session_cache(tmp_path_factory):
    """Session- and module-scoped fixtures run before function-scoped ones: isolate them too."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path_factory.mktemp("cache_session")))
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("TRANSFORMERS_OFFLINE", "1")
    mp.setenv("MOLSTRATA_N_JOBS", "1")  # CLI runs stay in-process; tests of N > 1 pass --n-jobs
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own embeddings cache, never the user's."""
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("MOLSTRATA_N_JOBS", "1")  # the CLI's --n-jobs default (auto) off in tests


# ----------------------------------------------------------------- tiny HF SMILES models
# Session-scoped, built in a second each: a regex SMILES tokenizer and 3-block, 32-wide
# random models saved with save_pretrained, for any test that needs a real HF folder.
@pytest.fixture(scope="session")
def tiny_roberta_dir(tmp_path_factory) -> Path:
    """A 3-block, 32-wide random RoBERTa with a SMILES tokenizer (max 64 tokens)."""
    import torch
    from transformers import RobertaConfig, RobertaModel

    tok = build_tiny_tokenizer(64)
    torch.manual_seed(0)
    cfg = RobertaConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=66, pad_token_id=1, bos_token_id=0,
        eos_token_id=2,
    )
    return save_tiny(tmp_path_factory.mktemp("tiny_roberta"), RobertaModel(cfg).eval(), tok)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A 3-block, 32-wide random BERT with the same SMILES tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    tok = build_tiny_tokenizer(64)
    torch.manual_seed(1)
    cfg = BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, pad_token_id=1,
    )
    return save_tiny(tmp_path_factory.mktemp("tiny_bert"), BertModel(cfg).eval(), tok)


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    """A 3-block, 32-wide random GPT-2 (final ``ln_f``) with a tokenizer adding no specials."""
    import torch
    from transformers import GPT2Config, GPT2Model

    tok = build_tiny_tokenizer(64, bos_eos=False)
    torch.manual_seed(2)
    cfg = GPT2Config(
        vocab_size=len(tok), n_embd=32, n_layer=3, n_head=2, n_positions=64,
        bos_token_id=0, eos_token_id=2, pad_token_id=1,
    )
    return save_tiny(tmp_path_factory.mktemp("tiny_gpt2"), GPT2Model(cfg).eval(), tok)


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory) -> Path:
    """A 3-block, 32-wide random T5 encoder (final layer norm) with the SMILES tokenizer."""
    import torch
    from transformers import T5Config, T5EncoderModel

    tok = build_tiny_tokenizer(64)
    torch.manual_seed(3)
    cfg = T5Config(
        vocab_size=len(tok), d_model=32, d_kv=16, d_ff=64, num_layers=3, num_heads=2,
        pad_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )
    return save_tiny(tmp_path_factory.mktemp("tiny_t5"), T5EncoderModel(cfg).eval(), tok)
