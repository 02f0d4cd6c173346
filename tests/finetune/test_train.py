"""The training loop: resume after a kill, gradient accumulation, scoring in target units."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.metrics import mean_absolute_error

from molstrata.core.errors import ConfigError
from molstrata.finetune import (
    Dataset,
    HeadConfig,
    TargetScaler,
    TrainConfig,
    build_model,
    fit,
    predict,
)
from molstrata.finetune.train import load_checkpoint


def _datasets(split):
    from molstrata.data.smiles import parse_smiles

    out = []
    for frame in (split.train, split.valid):
        parsed = parse_smiles(frame["Drug"].tolist())
        out.append(Dataset(parsed.canonical, frame["Y"].to_numpy(dtype=np.float64)))
    return out


class Killed(RuntimeError):
    pass


def _kill_after(epoch):
    def callback(report):
        if report.epoch == epoch:
            raise Killed(f"simulated kill after epoch {epoch}")

    return callback


def _run(encoder, split, config, checkpoint=None, callbacks=()):
    train, valid = _datasets(split)
    scaler = TargetScaler.fit(train.y)
    torch.manual_seed(config.seed)
    model = build_model(encoder, 2)
    run = fit(model, train, valid, task_type="regression", metric="mae", config=config,
              scaler=scaler, checkpoint=checkpoint, callbacks=callbacks)
    return run, model


def test_resume_after_kill_reproduces_the_uninterrupted_run(tiny_encoder, caco2_tiny, tmp_path):
    config = TrainConfig(lr=1e-3, epochs=4, batch_size=16, patience=10, seed=3)
    ref, _ = _run(tiny_encoder, caco2_tiny, config)  # uninterrupted, no checkpoint at all

    ckpt = tmp_path / "run.pt"
    with pytest.raises(Killed):
        _run(tiny_encoder, caco2_tiny, config, checkpoint=ckpt, callbacks=[_kill_after(2)])
    saved = load_checkpoint(ckpt)
    assert saved["epoch"] == 2 and not saved["done"]
    assert {"model", "optimizer", "scheduler", "torch_rng"} <= set(saved)

    seen = []
    resumed, _ = _run(tiny_encoder, caco2_tiny, config, checkpoint=ckpt,
                      callbacks=[lambda r: seen.append(r.epoch)])
    assert seen == [3, 4]  # epochs 1-2 were not trained again
    assert resumed.history == ref.history  # bit-identical losses and validation scores
    assert resumed.best_epoch == ref.best_epoch
    for key, value in ref.best_state.items():
        torch.testing.assert_close(resumed.best_state[key], value, rtol=0, atol=0)
    # a finished run resumes to its result without training
    again, _ = _run(tiny_encoder, caco2_tiny, config, checkpoint=ckpt,
                    callbacks=[lambda r: seen.append(r.epoch)])
    assert seen == [3, 4] and again.history == ref.history


def test_checkpoint_from_another_config_is_refused(tiny_encoder, caco2_tiny, tmp_path):
    ckpt = tmp_path / "run.pt"
    config = TrainConfig(lr=1e-3, epochs=2, batch_size=32)
    with pytest.raises(Killed):
        _run(tiny_encoder, caco2_tiny, config, checkpoint=ckpt, callbacks=[_kill_after(1)])
    with pytest.raises(ConfigError, match="different configuration"):
        _run(tiny_encoder, caco2_tiny, TrainConfig(lr=2e-3, epochs=2, batch_size=32), checkpoint=ckpt)


def test_gradient_accumulation_equals_the_full_batch(tiny_encoder, caco2_tiny):
    """Without dropout, 4 micro-batches of 8 give the same update as one batch of 32."""
    from finetune_tiny import TinyRoberta, tiny_roberta

    enc = TinyRoberta(tiny_roberta(n_layers=2, hidden=32, seed=0, dropout=0.0))
    train, valid = _datasets(caco2_tiny)
    scaler = TargetScaler.fit(train.y)
    states = []
    for accum in (1, 4):
        torch.manual_seed(0)
        model = build_model(copy.deepcopy(enc), 2, head=HeadConfig(dropout=0.0))
        cfg = TrainConfig(lr=1e-3, epochs=1, batch_size=32, grad_accum=accum, warmup_frac=0.0)
        fit(model, train, valid, task_type="regression", metric="mae", config=cfg, scaler=scaler)
        states.append(model.state_dict())
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key], rtol=1e-4, atol=1e-5)


def test_predictions_are_in_target_units(tiny_encoder, caco2_tiny):
    train, valid = _datasets(caco2_tiny)
    scaler = TargetScaler.fit(train.y)
    torch.manual_seed(0)
    model = build_model(tiny_encoder, 2).eval()
    with torch.no_grad():
        raw = model(list(valid.smiles))[:, 0].double().numpy()
    pred = predict(model, valid.smiles, scaler=scaler, task_type="regression", batch_size=7)
    # independent inverse transform with the training mean and population std
    expected = raw * np.std(train.y) + np.mean(train.y)
    np.testing.assert_allclose(pred, expected, rtol=1e-5, atol=1e-6)
    prob = predict(model, valid.smiles, scaler=scaler, task_type="classification")
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-raw)), rtol=1e-5, atol=1e-6)
    assert mean_absolute_error(valid.y, pred) > 0


def test_training_learns_and_scores_validation_with_the_task_metric(tiny_encoder, caco2_tiny):
    train, valid = _datasets(caco2_tiny)
    cfg = TrainConfig(lr=1e-3, epochs=3, batch_size=16, patience=5, seed=1)
    run, model = _run(tiny_encoder, caco2_tiny, cfg)
    losses = [row["train_loss"] for row in run.history]
    assert losses[-1] < losses[0]
    # the recorded best score is the MAE (sklearn) of the restored best model
    pred = predict(model, valid.smiles, scaler=TargetScaler.fit(train.y), task_type="regression")
    assert run.best_score == pytest.approx(mean_absolute_error(valid.y, pred), rel=1e-9)
    assert run.best_score == min(row["valid_score"] for row in run.history)


def test_early_stopping_stops_after_patience(tiny_encoder, caco2_tiny, monkeypatch):
    from molstrata.finetune import train as train_mod

    scores = iter([0.50, 0.40, 0.45, 0.41, 0.30, 0.20])  # validation MAE per epoch
    monkeypatch.setattr(train_mod, "evaluate", lambda metric, y, p: next(scores))
    cfg = TrainConfig(lr=1e-4, epochs=6, batch_size=64, patience=2, seed=1)
    run, _ = _run(tiny_encoder, caco2_tiny, cfg)
    # best at epoch 2; epochs 3 and 4 do not beat it -> stop after epoch 4, never see 0.30
    assert run.stopped_early
    assert [r["epoch"] for r in run.history] == [1, 2, 3, 4]
    assert (run.best_epoch, run.best_score) == (2, 0.40)


@pytest.mark.parametrize(
    ("option", "value"),
    [("lr", 0.0), ("epochs", 0), ("grad_accum", 64), ("warmup_frac", 1.0), ("patience", 0)],
)
def test_bad_training_options_are_named(option, value):
    with pytest.raises(ConfigError, match=option):
        TrainConfig(**{option: value})


def test_length_grouped_batches_cover_every_molecule_once_with_less_padding(data_dir):
    import pandas as pd

    from molstrata.finetune.train import _epoch_batches

    smiles = tuple(pd.read_csv(data_dir / "admet_group" / "caco2_wang" / "train_val.csv")["Drug"])
    ds = Dataset(smiles, np.zeros(len(smiles)))
    lengths = np.array([len(s) for s in smiles])

    def padding(batches):
        return sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in batches)

    for epoch in (1, 2):
        grouped = _epoch_batches(ds, TrainConfig(batch_size=16, seed=3), epoch)
        plain = _epoch_batches(ds, TrainConfig(batch_size=16, seed=3, group_by_length=False), epoch)
        for batches in (grouped, plain):
            np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(len(smiles)))
        assert padding(grouped) < 0.5 * padding(plain)
    # a function of (seed, epoch): identical when asked again, different next epoch
    a = _epoch_batches(ds, TrainConfig(batch_size=16, seed=3), 1)
    b = _epoch_batches(ds, TrainConfig(batch_size=16, seed=3), 1)
    c = _epoch_batches(ds, TrainConfig(batch_size=16, seed=3), 2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=False))
