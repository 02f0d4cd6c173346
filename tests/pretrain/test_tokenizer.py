"""The atom-level regex SMILES tokenizer: exact tokens, round trip, plain-HF loading."""

from __future__ import annotations

import pytest

from molstrata.pretrain.tokenizer import build_smiles_tokenizer, regex_tokens, save_tokenizer

# hand-written expected tokenisations (independent of the code under test)
EXPECTED = {
    "CCl": ["C", "Cl"],
    "BrC(Br)Cl": ["Br", "C", "(", "Br", ")", "Cl"],
    "c1cc[nH]c1": ["c", "1", "c", "c", "[nH]", "c", "1"],
    "C1CC%10CC1C%10": ["C", "1", "C", "C", "%10", "C", "C", "1", "C", "%10"],
    "[Na+].[O-]C(=O)C": ["[Na+]", ".", "[O-]", "C", "(", "=", "O", ")", "C"],
    "C[C@@H](N)C(=O)O": ["C", "[C@@H]", "(", "N", ")", "C", "(", "=", "O", ")", "O"],
    "F/C=C\\F": ["F", "/", "C", "=", "C", "\\", "F"],
    "C#N": ["C", "#", "N"],
    "[2H]OS(=O)(=O)[NH3+]": ["[2H]", "O", "S", "(", "=", "O", ")", "(", "=", "O", ")", "[NH3+]"],
}


@pytest.mark.parametrize("smiles", sorted(EXPECTED))
def test_regex_tokens_match_hand_tokenisation(smiles):
    assert regex_tokens(smiles) == EXPECTED[smiles]


def test_regex_tokens_rejects_uncovered_characters():
    with pytest.raises(ValueError, match="does not cover"):
        regex_tokens("CC&C")


def test_hf_tokenizer_round_trip_and_autotokenizer(tmp_path):
    from transformers import AutoTokenizer

    tok = build_smiles_tokenizer(list(EXPECTED))
    save_tokenizer(tok, tmp_path)
    loaded = AutoTokenizer.from_pretrained(str(tmp_path))  # no molstrata code involved
    for smiles, expected in EXPECTED.items():
        ids = loaded(smiles)["input_ids"]
        tokens = loaded.convert_ids_to_tokens(ids)
        assert tokens == ["<s>", *expected, "</s>"]
        assert loaded.decode(ids, skip_special_tokens=True) == smiles
    assert loaded.unk_token_id not in loaded(list(EXPECTED))["input_ids"][0]
    # RoBERTa special-token ids
    assert (loaded.bos_token_id, loaded.pad_token_id, loaded.eos_token_id, loaded.unk_token_id) == (0, 1, 2, 3)
    assert loaded.convert_ids_to_tokens(loaded.mask_token_id) == "<mask>"


def test_unseen_token_maps_to_unk():
    tok = build_smiles_tokenizer(["CCO"])
    ids = tok("CC[Se]")["input_ids"]
    assert ids[-2] == tok.unk_token_id
