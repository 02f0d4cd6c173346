"""The embeddings cache: keys, hits and misses, resume after a crash (bit-identical),
corruption detection, memory-mapped views."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import molstrata.embeddings.cache as cache_mod
from molstrata import load_encoder
from molstrata.data.smiles import parse_smiles
from molstrata.embeddings import CacheKey, embed_cached

SMILES = [
    "CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C", "CN1CCC[C@H]1c1cccnc1", "OC(=O)CCl",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "O=C(O)c1ccccc1O", "CCN(CC)CC", "c1ccncc1", "CCCCCCCCCCCC",
    "Clc1ccc(Cl)cc1", "NCCO", "C1CCCCC1", "CC#N", "OCC(O)CO",
]


@pytest.fixture(scope="module")
def encoder(tiny_roberta_dir):
    return load_encoder(str(tiny_roberta_dir), device="cpu")


class Counting:
    """Wrap an encoder's _forward to count molecules run, and optionally crash once n
    molecules have been run."""

    def __init__(self, encoder, monkeypatch, crash_after: int | None = None):
        self.n_molecules = 0
        self.n_batches = 0
        original = type(encoder)._forward

        def forward(enc, smiles):  # a lone molecule runs as two copies: count it once
            if crash_after is not None and self.n_molecules >= crash_after:
                raise KeyboardInterrupt("injected crash")
            self.n_batches += 1
            self.n_molecules += len(set(smiles))
            return original(enc, smiles)

        monkeypatch.setattr(type(encoder), "_forward", forward)


def _equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_every_cache_key_field_changes_the_key():
    base = CacheKey("enc", "abc", "mean", 128, 6, False, "0.1.0/1", "CCO")
    other = {"encoder": "enc2", "identity": "abd", "pooling": "max", "max_length": 64,
             "num_layers": 5, "include_special": True, "version": "0.2.0/1", "smiles": "OCC"}
    assert set(other) == {f.name for f in dataclasses.fields(CacheKey)}
    for name, value in other.items():
        changed = dataclasses.replace(base, **{name: value})
        assert changed.digest() != base.digest(), name
        if name != "smiles":
            assert changed.setting_digest() != base.setting_digest(), name
    assert dataclasses.replace(base, smiles="OCC").setting_digest() == base.setting_digest()
    assert CacheKey("enc", "abc", "mean", None, 6, False, "v").digest() != CacheKey(
        "enc", "abc", "mean", 0, 6, False, "v").digest()


def test_key_follows_encoder_identity(encoder, tiny_roberta_dir):
    a = CacheKey.for_encoder(encoder, pooling="mean")
    short = load_encoder(str(tiny_roberta_dir), device="cpu", max_layer=2)
    rand = load_encoder(str(tiny_roberta_dir), device="cpu", random_init=True, seed=3)
    shorter = load_encoder(str(tiny_roberta_dir), device="cpu", max_length=32)
    digests = {k.setting_digest() for k in [
        a, CacheKey.for_encoder(short, pooling="mean"), CacheKey.for_encoder(rand, pooling="mean"),
        CacheKey.for_encoder(shorter, pooling="mean"), CacheKey.for_encoder(encoder, pooling="max"),
        CacheKey.for_encoder(encoder, pooling="mean", include_special=True),
    ]}
    assert len(digests) == 6


def test_hit_and_miss(encoder, monkeypatch, tmp_path):
    count = Counting(encoder, monkeypatch)
    cold = embed_cached(encoder, SMILES, cache_dir=tmp_path, chunk_size=5)
    assert count.n_molecules == len(SMILES)
    assert cold.meta["cache"] == {"hits": 0, "computed": 16, "path": cold.meta["cache"]["path"]}
    warm = embed_cached(encoder, SMILES, cache_dir=tmp_path, chunk_size=5)
    assert count.n_molecules == len(SMILES), "warm call ran the model"
    assert warm.meta["cache"]["hits"] == 16
    _equal(cold, warm)
    # a new molecule and a re-ordered subset: only the new one runs
    more = ["CCCl", *SMILES[::-3]]
    mixed = embed_cached(encoder, more, cache_dir=tmp_path, chunk_size=5)
    assert count.n_molecules == len(SMILES) + 1
    for j, s in enumerate(more[1:], start=1):
        i = SMILES.index(s)
        np.testing.assert_array_equal(mixed[3][j], cold[3][i])
    # another pooling is another setting
    embed_cached(encoder, SMILES[:3], cache_dir=tmp_path, pooling="max")
    assert count.n_molecules == len(SMILES) + 4
    # and the cached values are the encoder's own
    direct = encoder.embed(SMILES)
    for a, b in zip(direct, cold, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_default_cache_dir_is_env(encoder, monkeypatch, tmp_path):
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path / "envcache"))
    emb = embed_cached(encoder, SMILES[:2])
    assert Path(emb.meta["cache"]["path"]).is_relative_to(tmp_path / "envcache")


def test_use_cache_false_writes_nothing(encoder, tmp_path):
    emb = embed_cached(encoder, SMILES[:3], cache_dir=tmp_path, use_cache=False)
    assert "cache" not in emb.meta and not any(tmp_path.iterdir())


def test_resume_after_crash_is_bit_identical(encoder, monkeypatch, tmp_path):
    reference = embed_cached(encoder, SMILES, cache_dir=tmp_path / "ref", chunk_size=4, batch_size=2)
    Counting(encoder, monkeypatch, crash_after=8)  # dies inside the third chunk
    with pytest.raises(KeyboardInterrupt):
        embed_cached(encoder, SMILES, cache_dir=tmp_path / "run", chunk_size=4, batch_size=2)
    monkeypatch.undo()
    chunks = list((tmp_path / "run").glob("embeddings/*/chunks/*"))
    assert len([c for c in chunks if not c.name.startswith(".")]) == 2
    assert not [c for c in chunks if c.name.startswith(".")], "no half-written chunk left"
    count = Counting(encoder, monkeypatch)
    resumed = embed_cached(encoder, SMILES, cache_dir=tmp_path / "run", chunk_size=4, batch_size=2)
    assert count.n_molecules == len(SMILES) - 8
    assert resumed.meta["cache"]["hits"] == 8
    _equal(resumed, reference)


def test_crash_while_writing_leaves_no_partial_chunk(encoder, monkeypatch, tmp_path):
    real_save = np.save
    calls = {"n": 0}

    def failing_save(path, arr, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (injected)")
        return real_save(path, arr, *a, **k)

    monkeypatch.setattr(cache_mod.np, "save", failing_save)
    with pytest.raises(OSError, match="injected"):
        embed_cached(encoder, SMILES[:6], cache_dir=tmp_path, chunk_size=6)
    monkeypatch.undo()
    assert not [p for p in tmp_path.glob("embeddings/*/chunks/*")]
    reference = embed_cached(encoder, SMILES[:6], cache_dir=tmp_path / "ref", chunk_size=6)
    again = embed_cached(encoder, SMILES[:6], cache_dir=tmp_path, chunk_size=6)
    assert again.meta["cache"]["computed"] == 6
    _equal(again, reference)


@pytest.mark.parametrize("damage", ["flip", "truncate", "meta", "delete"])
def test_corrupted_chunk_is_detected_and_recomputed(encoder, monkeypatch, tmp_path, damage):
    first = embed_cached(encoder, SMILES, cache_dir=tmp_path, chunk_size=8)
    chunk = sorted(p for p in tmp_path.glob("embeddings/*/chunks/*"))[0]
    target = chunk / "layer_002.npy"
    if damage == "flip":
        raw = bytearray(target.read_bytes())
        raw[-5] ^= 0xFF
        target.write_bytes(bytes(raw))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:-16])
    elif damage == "meta":
        (chunk / "meta.json").write_text("{not json")
    else:
        target.unlink()
    count = Counting(encoder, monkeypatch)
    with pytest.warns(UserWarning, match="discarding"):
        again = embed_cached(encoder, SMILES, cache_dir=tmp_path, chunk_size=8)
    assert count.n_molecules == 8
    _equal(again, first)


def test_large_results_come_back_as_memmaps(encoder, monkeypatch, tmp_path):
    in_ram = embed_cached(encoder, [*SMILES, "bad"], cache_dir=tmp_path, chunk_size=5, on_invalid="mask")
    monkeypatch.setattr(cache_mod, "MAX_IN_MEMORY", 0)
    mapped = embed_cached(encoder, [*SMILES, "bad"], cache_dir=tmp_path, chunk_size=5, on_invalid="mask")
    assert all(isinstance(layer, np.memmap) and not layer.flags.writeable for layer in mapped)
    assert np.isnan(mapped[1][-1]).all()
    _equal(mapped, in_ram)
    view = Path(mapped.meta["cache"]["view"])
    raw = bytearray((view / "layer_001.npy").read_bytes())
    raw[-1] ^= 0xFF
    (view / "layer_001.npy").write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="discarding"):
        rebuilt = embed_cached(encoder, [*SMILES, "bad"], cache_dir=tmp_path, on_invalid="mask")
    _equal(rebuilt, in_ram)


def test_raw_strings_are_keyed_as_fed(encoder, monkeypatch, tmp_path):
    count = Counting(encoder, monkeypatch)
    canon = embed_cached(encoder, ["OCC", "CCO"], cache_dir=tmp_path)
    assert count.n_molecules == 1  # one canonical molecule
    raw = embed_cached(encoder, ["OCC", "CCO"], cache_dir=tmp_path, canonicalize=False)
    assert count.n_molecules == 2  # "CCO" was cached as fed; "OCC" is new
    np.testing.assert_array_equal(raw[3][1], canon[3][1])
    assert not np.array_equal(raw[3][0], canon[3][0])


def test_truncation_is_reported_on_warm_reads(tiny_roberta_dir, tmp_path):
    enc = load_encoder(str(tiny_roberta_dir), device="cpu", max_length=16)
    items = ["CCO", "C" * 30, "CCN"]
    with pytest.warns(UserWarning, match="max_length=16"):
        cold = embed_cached(enc, items, cache_dir=tmp_path)
    with pytest.warns(UserWarning, match="max_length=16"):
        warm = embed_cached(enc, items, cache_dir=tmp_path)
    assert cold.meta["truncated_rows"] == warm.meta["truncated_rows"] == [1]
    meta = json.loads(next(tmp_path.glob("embeddings/*/chunks/*/meta.json")).read_text())
    assert meta["truncated"] == [2]  # its row inside the size-sorted chunk


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["CCO", "C", "xx", "c1ccccc1", "C(", "", "N#N", "OCC", "[Na+].[Cl-]"]),
                min_size=1, max_size=8))
def test_fuzz_cached_alignment(encoder, tmp_path_factory, strings):
    emb = embed_cached(encoder, strings, on_invalid="mask", cache_dir=tmp_path_factory.mktemp("fz"))
    parsed = parse_smiles(strings, on_invalid="mask")
    assert emb.valid.tolist() == parsed.valid.tolist()
    alone = {s: encoder.embed([s])[2][0] for s in set(np.asarray(parsed.canonical)[parsed.valid])}
    for i, ok in enumerate(parsed.valid):
        if ok:
            np.testing.assert_allclose(emb[2][i], alone[parsed.canonical[i]], atol=1e-5)
        else:
            assert np.isnan(emb[2][i]).all()
