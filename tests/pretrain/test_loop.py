"""The plumbing both pretraining recipes share: checkpoint layout, fallback, LR schedule."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch

from molstrata.core.errors import ConfigError
from molstrata.pretrain._loop import load_checkpoint, save_checkpoint, warmup_linear_decay


def _setup(seed: int):
    torch.manual_seed(seed)
    model, head = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (s + 1))
    return model, head, params, opt, sched


def test_checkpoint_layout_roundtrip_and_old_fallback(tmp_path):
    from safetensors.torch import load_file

    model, head, params, opt, sched = _setup(0)
    loss = head(model(torch.ones(5, 3))).pow(2).sum()
    loss.backward()
    opt.step()
    sched.step()
    save_checkpoint(tmp_path, {"model": model, "head": head}, opt, sched, step=7, elapsed=12.5)
    ck = tmp_path / "checkpoint"
    # the on-disk format resumed runs depend on: one safetensors per module + trainer_state.pt
    assert sorted(p.name for p in ck.iterdir()) == ["head.safetensors", "model.safetensors", "trainer_state.pt"]
    assert not (tmp_path / "checkpoint.tmp").exists() and not (tmp_path / "checkpoint.old").exists()
    state = torch.load(ck / "trainer_state.pt", weights_only=True)
    assert list(state) == ["optimizer", "scheduler", "torch_rng", "step", "elapsed"]
    assert torch.equal(load_file(str(ck / "model.safetensors"))["weight"], model.weight.detach())

    # an interrupted swap leaves only checkpoint.old: it is read instead
    os.replace(ck, tmp_path / "checkpoint.old")
    model2, head2, _, opt2, sched2 = _setup(1)
    step, elapsed = load_checkpoint(tmp_path, {"model": model2, "head": head2}, opt2, sched2)
    assert (step, elapsed) == (7, 12.5)
    for a, b in zip(params, list(model2.parameters()) + list(head2.parameters()), strict=True):
        assert torch.equal(a, b)
    assert sched2.last_epoch == 1 and sched2.get_last_lr() == sched.get_last_lr()
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])

    # a second save replaces the old folder and leaves one checkpoint
    save_checkpoint(tmp_path, {"model": model2, "head": head2}, opt2, sched2, step=8, elapsed=13.0)
    assert (tmp_path / "checkpoint").is_dir() and not (tmp_path / "checkpoint.old").exists()

    with pytest.raises(ConfigError, match="no checkpoint"):
        load_checkpoint(tmp_path / "empty", {"model": model2}, opt2, sched2)


def test_warmup_linear_decay_schedule():
    f = warmup_linear_decay(SimpleNamespace(steps=20, warmup_frac=0.2))  # 4 warm-up steps
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    # then linear from 1 at step 4 to 0 at step 20 (16 steps)
    assert [f(s) for s in (4, 12, 19, 20, 25)] == [1.0, 0.5, 1 / 16, 0.0, 0.0]
    g = warmup_linear_decay(SimpleNamespace(steps=10, warmup_frac=0.0))  # at least one step
    assert g(0) == 1.0 and g(1) == 1.0 and g(9) == pytest.approx(1 / 9)
