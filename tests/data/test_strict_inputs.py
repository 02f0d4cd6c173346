"""SMILES are read strictly: no bare strings, bytes decoded, misread strings flagged with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from molstrata.core import errors
from molstrata.core.errors import InvalidSmilesError, MolstrataError
from molstrata.data import load_csv_task
from molstrata.data import smiles as smiles_module
from molstrata.data.smiles import canonicalize, parse_smiles

# strings RDKit accepts only by reading another molecule: (input, what RDKit reads, reason)
MISREAD = [
    ("CC O", "CC", "internal whitespace at position 2; RDKit would read only 'CC'"),
    ("c1ccccc1 junk", "c1ccccc1", "internal whitespace at position 8; RDKit would read only 'c1ccccc1'"),
    ("CC\tO", "CC", "internal whitespace at position 2"),
    ("\U0001F600CC", "CC", "non-ASCII character '\U0001F600' (U+1F600 GRINNING FACE) at position 0"),
    ("\u0421\u0421O", "O", "non-ASCII character '\u0421' (U+0421 CYRILLIC CAPITAL LETTER ES) at position 0"),
    ("CC\u00a0O", None, "non-ASCII character '\\xa0' (U+00A0 NO-BREAK SPACE) at position 2"),
    ("C\x1bCO", None, "control character '\\x1b' at position 1"),
]


@pytest.fixture(scope="module")
def encoder():
    from molstrata.encoders import load_encoder

    return load_encoder("default", device="cpu")


def test_rdkit_misreads_these_strings():
    """The premise: RDKit returns a molecule, and a different one."""
    from rdkit import Chem

    for text, read, _ in MISREAD:
        if read is not None:
            assert Chem.MolToSmiles(Chem.MolFromSmiles(text)) == read


@pytest.mark.parametrize(("text", "reason"), [(t, r) for t, _, r in MISREAD])
def test_misread_strings_are_invalid_with_reason(text, reason):
    assert reason in smiles_module.check_smiles(text)
    assert canonicalize(text) is None
    parsed = parse_smiles(["CCO", text, "c1ccccc1"], on_invalid="mask")
    assert parsed.valid.tolist() == [True, False, True]
    assert reason in parsed.invalid_reasons[1]
    with pytest.raises(InvalidSmilesError, match="row 1: ") as info:
        parse_smiles(["CCO", text], source="my.csv")
    assert info.value.indices == [1] and reason in info.value.reasons[0]
    assert "\n" not in str(info.value)


def test_outer_ascii_whitespace_is_stripped():
    parsed = parse_smiles([" CCO", "CCO\n", "\tCCO \r\n"], on_invalid="mask")
    assert parsed.valid.all() and set(parsed.canonical) == {"CCO"}
    assert parsed.smiles == (" CCO", "CCO\n", "\tCCO \r\n")  # the inputs, unchanged


def test_empty_and_non_strings_are_invalid_with_reason():
    parsed = parse_smiles(["", "   ", None, float("nan"), 3], on_invalid="mask")
    assert not parsed.valid.any()
    reasons = parsed.invalid_reasons
    assert reasons[0] == reasons[1] == "empty string"
    assert reasons[2] == "missing (None)"
    assert reasons[3].startswith("not a string (float") and reasons[4].startswith("not a string (int")


def test_bytes_are_decoded_as_utf8_or_invalid():
    parsed = parse_smiles([b"CCO", "CCO".encode("utf-16"), b"\xffCC"], on_invalid="mask")
    assert parsed.smiles[0] == "CCO" and parsed.canonical[0] == "CCO"
    assert parsed.valid.tolist() == [True, False, False]
    assert "not valid UTF-8" in parsed.invalid_reasons[2]
    assert "b'" not in "".join(parsed.smiles)


@pytest.mark.parametrize("bare", ["CCO", b"CCO"])
def test_a_bare_string_is_refused(bare):
    with pytest.raises(errors.InputTypeError, match="sequence of SMILES") as info:
        parse_smiles(bare)
    assert isinstance(info.value, (MolstrataError, TypeError))


def test_encoder_refuses_a_bare_string(encoder):
    with pytest.raises(errors.InputTypeError, match=r"wrap it in a list: \['CCO'\]"):
        encoder.embed("CCO")
    with pytest.raises(errors.InputTypeError):
        encoder.embed(b"CCO")


def test_encoder_embeds_bytes_as_the_decoded_string(encoder):
    a = encoder.embed([b"CCO", "c1ccccc1O"])
    b = encoder.embed(["CCO", "c1ccccc1O"])
    assert a.smiles == ("CCO", "c1ccccc1O")
    np.testing.assert_allclose(a.layers[-1], b.layers[-1], atol=1e-5)


def test_encoder_masks_misread_strings_with_reasons(encoder):
    texts = ["CCO", *[t for t, _, _ in MISREAD], "c1ccccc1O"]
    emb = encoder.embed(texts, on_invalid="mask")
    n = len(texts)
    assert all(layer.shape[0] == n for layer in emb.layers)
    assert emb.valid.tolist() == [True] + [False] * len(MISREAD) + [True]
    assert emb.meta["invalid_rows"] == list(range(1, n - 1))
    for (_, _, reason), got in zip(MISREAD, emb.meta["invalid_reasons"], strict=True):
        assert reason in got
    assert np.isnan(emb.layers[-1][1:-1]).all() and np.isfinite(emb.layers[-1][[0, -1]]).all()


def test_embed_cached_flags_them_too(encoder, tmp_path):
    from molstrata.embeddings import embed_cached

    emb = embed_cached(encoder, ["CCO", "CC O", "\u0421\u0421O"], on_invalid="mask")
    assert emb.valid.tolist() == [True, False, False]
    with pytest.raises(InvalidSmilesError, match="internal whitespace"):
        embed_cached(encoder, ["CCO", "CC O"])


def test_user_csv_with_a_misread_smiles_names_row_and_reason(tmp_path):
    path = tmp_path / "mols.csv"
    rows = ["CCO", "CCN", "CCC", "CC O", "c1ccccc1", "CCCl", "CCBr", "CCCC", "OCCO", "NCCN"]
    path.write_text("smiles,y\n" + "".join(f"{s},{i}\n" for i, s in enumerate(rows)))
    with pytest.raises(InvalidSmilesError, match=r"row 3: 'CC O' \(internal whitespace"):
        load_csv_task(path, target_cols="y")
    split = load_csv_task(path, target_cols="y", on_invalid="omit")
    assert split.omitted["Drug"].tolist() == ["CC O"]
