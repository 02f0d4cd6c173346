"""Damaged probe run files (cells, selection caches, settings) are reported and recomputed,
and the tables are byte-identical to a clean run; a full disk is one StorageError line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from faults import disk_full, truncate
from molstrata.core.errors import StorageError
from molstrata.runs import sweep

TASK = "caco2_wang"


def _seed_dir(out: Path) -> Path:
    return next((out / "cells").glob(f"*/{TASK}/seed1"))


def _tables(out: Path) -> dict[str, bytes]:
    """Every output file but config.toml (it holds a time stamp) and the cells."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "config.toml" and "cells" not in p.parts}


@pytest.fixture
def clean(hash_encoder, data_dir, tmp_path):
    """A clean run of the fast fake encoder (its tables are the reference)."""
    out = tmp_path / "clean"
    sweep([hash_encoder], TASK, [1], out=out, data_dir=data_dir, report=False, progress=False)
    return out


DAMAGES = {
    "cell_truncated": lambda d: truncate(d / "layer001.npz", 0.5),
    "cell_empty": lambda d: truncate(d / "layer000.npz", 0.0),
    "cell_garbage": lambda d: (d / "layer002.npz").write_bytes(b"PK\x03\x04garbage"),
    "cv_cache_truncated": lambda d: truncate(next(d.glob("cv_k*.npz")), 0.3),
    "cv_cache_empty": lambda d: truncate(next(d.glob("cv_k*.npz")), 0.0),
}
#: damaged cell keys are handled by the resume logic (#17 §2): a note, and the cells recomputed
KEY_DAMAGES = {
    "key_json_wrong_shape": lambda d: (d / "key.json").write_text("[]"),
    "key_json_truncated": lambda d: truncate(d / "key.json", 0.5),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_run_file_warns_and_gives_identical_tables(hash_encoder, clean, data_dir,
                                                           tmp_path, damage):
    out = tmp_path / "run"
    shutil.copytree(clean, out)
    seed_dir = _seed_dir(out)
    DAMAGES[damage](seed_dir)
    with pytest.warns(UserWarning, match="damaged .*recomputing"):
        sweep([hash_encoder], TASK, [1], out=out, data_dir=data_dir, report=False,
              progress=False)
    assert _tables(out) == _tables(clean)
    for p in seed_dir.glob("layer*.npz"):  # the cells are whole again
        with np.load(p) as z:
            assert z["test_pred"].ndim == 1
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("damage", sorted(KEY_DAMAGES))
def test_damaged_cell_key_recomputes_identically(hash_encoder, clean, data_dir, tmp_path, damage):
    out = tmp_path / "run"
    shutil.copytree(clean, out)
    KEY_DAMAGES[damage](_seed_dir(out))
    run = sweep([hash_encoder], TASK, [1], out=out, data_dir=data_dir, report=False, progress=False)
    assert any("recomputing" in n for n in run.notes)
    got, ref = _tables(out), _tables(clean)
    assert "recomputing" in got.pop("notes.txt").decode()  # the note says so
    ref.pop("notes.txt")
    assert got == ref


def test_linear_refits_the_whole_task_seed_when_one_cell_is_lost(hash_encoder, clean,
                                                                 data_dir, tmp_path, monkeypatch):
    """The batched linear fit is not bit-identical to a one-layer fit: refit the batch."""
    import molstrata.runs.probe as runner

    out = tmp_path / "run"
    shutil.copytree(clean, out)
    truncate(_seed_dir(out) / "layer001.npz", 0.5)
    fitted = []
    real = runner.fit_layers

    def spy(data, **kw):
        fitted.append(len(data.train))
        return real(data, **kw)

    monkeypatch.setattr(runner, "fit_layers", spy)
    with pytest.warns(UserWarning, match="recomputing"):
        sweep([hash_encoder], TASK, [1], out=out, data_dir=data_dir, report=False, progress=False)
    assert fitted == [3]


def test_full_disk_while_writing_a_cell_is_one_line(hash_encoder, clean, data_dir, tmp_path,
                                                    monkeypatch):
    import molstrata.runs.probe as runner

    out = tmp_path / "run"
    disk_full(monkeypatch, runner.np, "savez", after=1)
    with pytest.raises(StorageError, match="no space left .*free space") as info:
        sweep([hash_encoder], TASK, [1], out=out, data_dir=data_dir, report=False, progress=False)
    assert "\n" not in str(info.value) and "layer001.npz" in str(info.value)
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    monkeypatch.undo()
    sweep([hash_encoder], TASK, [1], out=out, data_dir=data_dir, report=False, progress=False)
    assert _tables(out) == _tables(clean)


def test_use_cache_false_writes_no_embeddings_cache(hash_encoder, data_dir, tmp_path,
                                                    monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(cache))
    sweep([hash_encoder], TASK, [1], out=tmp_path / "run", data_dir=data_dir, report=False,
          progress=False, use_cache=False)
    assert not cache.exists()
    assert json.loads((tmp_path / "run" / "leaderboard.json").read_text())


def test_cell_path_taken_by_a_folder_is_one_line(hash_encoder, clean, data_dir, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(clean, out)
    cell = _seed_dir(out) / "layer001.npz"
    cell.unlink()
    cell.mkdir()
    with pytest.warns(UserWarning, match="damaged"), pytest.raises(StorageError, match="is a folder where a file belongs"):
        sweep([hash_encoder], TASK, [1], out=out, data_dir=data_dir, report=False, progress=False)
