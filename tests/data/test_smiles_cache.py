"""The SMILES parse memo: a second parse of the same list reads the disk memo (no RDKit),
returns the same ParsedSmiles and raises the same error on invalid rows."""

from __future__ import annotations

import pytest

import molstrata.data.smiles as smiles_mod
from molstrata.core.errors import InvalidSmilesError
from molstrata.data.smiles import parse_smiles

ROWS = [f"C{'C' * (i % 7)}O" if i % 50 else "c1ccccc1" for i in range(300)] + ["C1CC", "CC O"]


def test_second_parse_reads_the_memo(tmp_path, monkeypatch):
    from molstrata.data._smiles_cache import cached_parse_smiles

    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path))
    want = parse_smiles(ROWS, on_invalid="mask")
    first = cached_parse_smiles(ROWS, on_invalid="mask")
    assert list((tmp_path / "smiles").glob("*.json"))

    def refuse(text):
        raise AssertionError("RDKit called for a memoised list")

    monkeypatch.setattr(smiles_mod, "_canonical", refuse)
    second = cached_parse_smiles(ROWS, on_invalid="mask")
    for got in (first, second):
        assert got.smiles == want.smiles and got.canonical == want.canonical
        assert got.reasons == want.reasons and (got.valid == want.valid).all()
    with pytest.raises(InvalidSmilesError) as memo_err:
        cached_parse_smiles(ROWS, on_invalid="raise", source="x.csv")
    monkeypatch.undo()
    with pytest.raises(InvalidSmilesError) as direct_err:
        parse_smiles(ROWS, on_invalid="raise", source="x.csv")
    assert str(memo_err.value) == str(direct_err.value)


def test_damaged_memo_is_recomputed(tmp_path, monkeypatch):
    from molstrata.data._smiles_cache import cached_parse_smiles

    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path))
    cached_parse_smiles(ROWS, on_invalid="mask")
    memo = next((tmp_path / "smiles").glob("*.json"))
    memo.write_text('{"canonical": ["x"], "reasons": [""]}')
    again = cached_parse_smiles(ROWS, on_invalid="mask")
    assert again.canonical == parse_smiles(ROWS, on_invalid="mask").canonical
