"""Fuzz the built-in encoder with garbled SMILES: no crash, rows aligned, bad rows reported.

The strings are generated here with a fixed seed. Every 5th position holds a valid SMILES
(some as UTF-8 bytes, some with outer whitespace); the others are valid SMILES with one
defect put in at a known place (internal whitespace, a non-ASCII or control character,
undecodable bytes, a cut or an unbalanced ring/branch) or random ASCII junk. For each
generated row the test knows whether it must be valid: by construction, or, for junk and
cut strings (no whitespace, non-ASCII or control character), by what RDKit itself says.
1,000 strings in the default suite, 10,000 with ``-m slow``.
"""

from __future__ import annotations

import random
import string

import numpy as np
import pytest

SEED = 1717
VALID_EVERY = 5
POOL = [
    "CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "Cl/C=C/Br", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "CC(C)NCC(O)COc1ccc(NC=O)cc1", "OC(=O)C[C@@H](N)C(=O)O", "c1ccc2[nH]ccc2c1", "FC(F)(F)c1ccccc1",
    "C1CCC(CC1)N", "O=S(=O)(N)c1ccccc1", "CCN(CC)CC", "[Na+].[Cl-]", "C#N", "N#Cc1ccncc1",
]
NON_ASCII = ["\U0001F600", "\u0421", "\u041e", "\u03b1", "\u00a0", "\u200b", "\uff23", "\u00e9"]
CONTROL = ["\x00", "\x01", "\x07", "\x08", "\x1b", "\x7f"]
JUNK = string.ascii_letters + string.digits + "()[]=#@+-/\\.%*$:~!?<>{}"


def _rdkit_valid(text: str) -> bool:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    return Chem.MolFromSmiles(text) is not None


def garbled(n: int, seed: int = SEED) -> tuple[list[object], np.ndarray, dict[int, str]]:
    """``n`` rows, whether each must be valid, and the reason each invalid row must give.

    Returns
    -------
    rows : list of str or bytes, length n
    valid : ndarray of bool, shape (n,)
    reasons : row -> a substring of its expected reason (only where it is known exactly)
    """
    rng = random.Random(seed)
    rows: list[object] = []
    valid = np.zeros(n, dtype=bool)
    reasons: dict[int, str] = {}
    for i in range(n):
        smi = rng.choice(POOL)
        if i % VALID_EVERY == 0:  # the known valid positions
            kind = rng.randrange(3)
            rows.append(smi.encode() if kind == 1 else (" \t"[rng.randrange(2)] + smi + "\n" if kind == 2 else smi))
            valid[i] = True
            continue
        kind = rng.randrange(6)
        if kind == 0:  # internal whitespace
            k = rng.randrange(1, len(smi))
            rows.append(smi[:k] + rng.choice([" ", "\t", "  ", " \n"]) + smi[k:])
            reasons[i] = f"internal whitespace at position {k}; RDKit would read only {smi[:k]!r}"
        elif kind == 1:  # a non-ASCII character anywhere
            k = rng.randrange(len(smi) + 1)
            ch = rng.choice(NON_ASCII)
            rows.append(smi[:k] + ch + smi[k:])
            reasons[i] = f"non-ASCII character {ch!r} (U+{ord(ch):04X}"
            reasons[i] += f" {__import__('unicodedata').name(ch)}) at position {k}"
        elif kind == 2:  # a control character anywhere
            k = rng.randrange(len(smi) + 1)
            ch = rng.choice(CONTROL)
            rows.append(smi[:k] + ch + smi[k:])
            reasons[i] = f"control character {ch!r} at position {k}"
        elif kind == 3:  # bytes that are not UTF-8
            k = rng.randrange(len(smi) + 1)
            rows.append(smi[:k].encode() + bytes([rng.choice([0x80, 0xC3, 0xFF])]) + smi[k:].encode())
            reasons[i] = f"bytes that are not valid UTF-8 (at byte {k})"
        elif kind == 4:  # cut, or an unbalanced branch / ring: RDKit decides
            k = rng.randrange(1, len(smi))
            text = rng.choice([smi[:k], smi[:k] + "(" + smi[k:], smi + "1", smi[k:]])
            rows.append(text)
            valid[i] = _rdkit_valid(text)
        else:  # random printable ASCII junk, no whitespace: RDKit decides
            text = "".join(rng.choice(JUNK) for _ in range(rng.randrange(1, 25)))
            rows.append(text)
            valid[i] = _rdkit_valid(text)
    return rows, valid, reasons


@pytest.fixture(scope="module")
def encoder():
    from molstrata.encoders import load_encoder

    return load_encoder("default", device="cpu")


def _check(encoder, n: int) -> None:
    rows, expected, reasons = garbled(n)
    assert expected[::VALID_EVERY].all() and (~expected).sum() > n // 2  # mostly garbled
    emb = encoder.embed(rows, on_invalid="mask")  # no crash
    # rows aligned: one output row per input row, in order
    assert len(emb.smiles) == n and all(layer.shape[0] == n for layer in emb.layers)
    assert emb.valid.shape == (n,)
    # invalid rows reported by index, exactly; each with its reason
    np.testing.assert_array_equal(emb.valid, expected)
    assert emb.meta["invalid_rows"] == np.flatnonzero(~expected).tolist()
    got = dict(zip(emb.meta["invalid_rows"], emb.meta["invalid_reasons"], strict=True))
    assert all(got[i] for i in got)
    for i, reason in reasons.items():
        assert reason in got[i], (i, rows[i], got[i])
    last = emb.layers[-1]
    assert np.isnan(last[~expected]).all() and np.isfinite(last[expected]).all()
    # the known valid positions hold the embedding of their molecule
    known = np.arange(0, n, VALID_EVERY)
    clean = [r.decode() if isinstance(r, bytes) else r.strip() for r in (rows[i] for i in known)]
    ref = encoder.embed(sorted(set(clean)))
    where = {s: j for j, s in enumerate(ref.smiles)}
    np.testing.assert_allclose(last[known], ref.layers[-1][[where[s] for s in clean]], atol=1e-4)


def test_generator_is_seeded():
    assert garbled(50)[0] == garbled(50)[0]
    assert garbled(50)[0] != garbled(50, seed=SEED + 1)[0]


def test_fuzz_1000(encoder):
    _check(encoder, 1_000)


@pytest.mark.slow
def test_fuzz_10000(encoder):
    _check(encoder, 10_000)
