"""Damaged finetune checkpoints and result cells are reported and recomputed (outputs
byte-identical to a clean run); a full disk while checkpointing is one StorageError line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from faults import disk_full, truncate
from molstrata.core.errors import StorageError
from molstrata.finetune import Dataset, TargetScaler, TrainConfig, build_model, fit

CONFIG = TrainConfig(lr=1e-3, epochs=3, batch_size=16, patience=10, seed=3)


def _run(encoder, split, checkpoint=None, callbacks=()):
    from molstrata.data.smiles import parse_smiles

    train, valid = (Dataset(parse_smiles(f["Drug"].tolist()).canonical, f["Y"].to_numpy(dtype=np.float64))
                    for f in (split.train, split.valid))
    torch.manual_seed(CONFIG.seed)
    model = build_model(encoder, 2)
    return fit(model, train, valid, task_type="regression", metric="mae", config=CONFIG,
               scaler=TargetScaler.fit(train.y), checkpoint=checkpoint, callbacks=callbacks)


def _kill_after(epoch):
    def callback(report):
        if report.epoch == epoch:
            raise KeyboardInterrupt(f"killed after epoch {epoch}")
    return callback


CHECKPOINT_DAMAGES = {
    "truncated": lambda p: truncate(p, 0.5),
    "empty": lambda p: truncate(p, 0.0),
    "garbage": lambda p: p.write_bytes(b"not a checkpoint"),
    "wrong_shape": lambda p: torch.save([1, 2, 3], p),
    "keys_missing": lambda p: torch.save({"fingerprint": "x"}, p),
}


@pytest.mark.parametrize("damage", sorted(CHECKPOINT_DAMAGES))
def test_damaged_checkpoint_warns_and_retrains_identically(tiny_encoder, caco2_tiny, tmp_path, damage):
    ref = _run(tiny_encoder, caco2_tiny)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        _run(tiny_encoder, caco2_tiny, checkpoint=ckpt, callbacks=[_kill_after(2)])
    CHECKPOINT_DAMAGES[damage](ckpt)
    with pytest.warns(UserWarning, match="finetune checkpoint .*damaged.*recomputing"):
        again = _run(tiny_encoder, caco2_tiny, checkpoint=ckpt)
    assert again.history == ref.history and again.best_epoch == ref.best_epoch
    for key, value in ref.best_state.items():
        torch.testing.assert_close(again.best_state[key], value, rtol=0, atol=0)


def test_full_disk_while_checkpointing_is_one_line(tiny_encoder, caco2_tiny, tmp_path, monkeypatch):
    import molstrata.finetune.train as train_mod

    ckpt = tmp_path / "run.pt"
    disk_full(monkeypatch, train_mod.torch, "save", after=1)
    with pytest.raises(StorageError, match="no space left .*run.pt.*free space") as info:
        _run(tiny_encoder, caco2_tiny, checkpoint=ckpt)
    assert "\n" not in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # the epoch-1 checkpoint, no temp file


# --------------------------------------------------------------------- run folder cells
def _outputs(out: Path) -> dict[str, bytes]:
    # report.html embeds the figures and report.md; report.md's one timestamp line (when the
    # run finished and the report was built) differs from run to run, the rest must not
    skip = {"config.toml", "run_params.json", "report.html"}
    return {str(p.relative_to(out)): _untimed(p) for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in skip and "cells" not in p.parts and p.suffix != ".png"}


def _untimed(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name != "report.md":
        return data
    return b"\n".join(line for line in data.split(b"\n") if not line.startswith(b"- run finished "))


@pytest.fixture
def finetune_clean(tiny_roberta_dir, data_dir, tmp_path):
    from molstrata.runs.finetune import run_finetune

    def run(out):
        return run_finetune(str(tiny_roberta_dir), "caco2_wang", layers=[3], seeds=[1], lrs=[1e-3],
                            config=TrainConfig(epochs=1, batch_size=64), out=out,
                            data_dir=data_dir, device="cpu", progress=False)

    run(tmp_path / "clean")
    return run, tmp_path / "clean"


RESULT_DAMAGES = {
    "truncated": lambda p: truncate(p, 0.5),
    "null": lambda p: p.write_text("null"),
    "keys_missing": lambda p: p.write_text('{"task": "caco2_wang"}'),
}


@pytest.mark.parametrize("damage", sorted(RESULT_DAMAGES))
def test_damaged_result_cell_warns_and_gives_identical_outputs(finetune_clean, tmp_path, damage):
    run, clean = finetune_clean
    out = tmp_path / "run"
    shutil.copytree(clean, out)
    cell = next((out / "cells").glob("*.json"))
    RESULT_DAMAGES[damage](cell)
    with pytest.warns(UserWarning, match="finetune result .*damaged.*recomputing"):
        run(out)
    assert _outputs(out) == _outputs(clean)
    assert cell.read_bytes() == (clean / "cells" / cell.name).read_bytes()


def test_a_legacy_pickle_checkpoint_is_refused_not_overwritten(tiny_encoder, caco2_tiny, tmp_path):
    """Damage is retrained; a pickle (possibly hostile, #17 §1) is refused and left as it is."""
    import pickle

    from molstrata.core.errors import ConfigError

    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes(pickle.dumps({"fingerprint": "x"}, protocol=2))
    before = ckpt.read_bytes()
    with pytest.raises(ConfigError, match="legacy"):
        _run(tiny_encoder, caco2_tiny, checkpoint=ckpt)
    assert ckpt.read_bytes() == before
