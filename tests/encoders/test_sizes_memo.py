"""A warm embedding request reads its input lengths from the disk memo instead of measuring
(tokenising) every molecule again, with the same truncation and the same embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from molstrata import load_encoder
from molstrata.embeddings import embed_cached

SMILES = [("C" * (1 + i % 40)) + "O" for i in range(300)]


@pytest.fixture(scope="module")
def encoder(tiny_roberta_dir):
    return load_encoder(str(tiny_roberta_dir), device="cpu")


def test_second_request_does_not_measure_again(encoder, tmp_path, monkeypatch):
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path))
    first = embed_cached(encoder, SMILES, on_invalid="mask")
    measured: list[int] = []
    real = type(encoder)._sizes

    def counting(self, smiles):
        measured.append(len(smiles))
        return real(self, smiles)

    monkeypatch.setattr(type(encoder), "_sizes", counting)
    second = embed_cached(encoder, SMILES, on_invalid="mask")
    assert measured == []
    assert second.meta.get("truncated_rows") == first.meta.get("truncated_rows")
    for a, b in zip(first.layers, second.layers, strict=True):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    memo = next((tmp_path / "sizes").glob("*.json"))
    memo.write_text("[1, 2")  # damaged: measured again, same result
    third = embed_cached(encoder, SMILES, on_invalid="mask")
    assert measured and third.meta.get("truncated_rows") == first.meta.get("truncated_rows")
