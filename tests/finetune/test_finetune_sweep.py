"""LR sweep: the chosen (lr, epoch) is the validation optimum over the WHOLE sweep."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import mean_absolute_error, roc_auc_score

from molstrata.core.errors import ConfigError
from molstrata.finetune import TrainConfig, TrainRun, finetune, select_best
from molstrata.finetune import sweep as sweep_mod

# first: too small to learn; middle: learns; last: so large that training blows up (worst)
LRS = (1e-9, 1e-3, 3.0)
CONFIG = TrainConfig(epochs=3, batch_size=16, patience=3, max_grad_norm=None)


def _argbest(history, higher):
    scores = history["valid_score"].to_numpy()
    i = int(np.nanargmax(scores) if higher else np.nanargmin(scores))
    return float(history["lr"].iloc[i]), int(history["epoch"].iloc[i]), float(scores[i])


def test_chosen_lr_is_the_validation_optimum_not_the_last_lr(tiny_encoder, caco2_tiny):
    res = finetune(tiny_encoder, caco2_tiny, n_layers=2, lrs=LRS, seed=1, config=CONFIG)
    hist = res.history
    assert sorted(hist["lr"].unique()) == sorted(LRS)
    # the construction holds: the last learning rate is the worst one on validation
    best_per_lr = hist.groupby("lr")["valid_score"].min()
    assert best_per_lr.idxmax() == LRS[-1]
    # selection = argmin of validation MAE over every (lr, epoch) of the sweep
    lr, epoch, score = _argbest(hist, higher=False)
    assert (res.best_lr, res.best_epoch) == (lr, epoch)
    assert res.valid_score == score
    assert res.best_lr != LRS[-1]
    # test scored once, with the chosen checkpoint, by the task metric (independent sklearn)
    y_test = caco2_tiny.test["Y"].to_numpy()
    assert res.test_pred.shape == y_test.shape
    assert res.test_score == pytest.approx(mean_absolute_error(y_test, res.test_pred), rel=1e-12)


def test_selection_never_reads_test_labels(tiny_encoder, hia_tiny):
    cfg = TrainConfig(epochs=2, batch_size=16, patience=2)
    clean = finetune(tiny_encoder, hia_tiny, n_layers=1, lrs=(1e-4, 1e-3), seed=2, config=cfg)
    poisoned_test = hia_tiny.test.assign(Y=1 - hia_tiny.test["Y"])  # flipped test labels
    poisoned = finetune(tiny_encoder, type(hia_tiny)(**{**hia_tiny.__dict__, "test": poisoned_test}),
                        n_layers=1, lrs=(1e-4, 1e-3), seed=2, config=cfg)
    assert (poisoned.best_lr, poisoned.best_epoch) == (clean.best_lr, clean.best_epoch)
    assert poisoned.history.equals(clean.history)
    np.testing.assert_array_equal(poisoned.test_pred, clean.test_pred)
    assert clean.test_score == pytest.approx(roc_auc_score(hia_tiny.test["Y"], clean.test_pred))
    assert poisoned.test_score == pytest.approx(1 - clean.test_score)


def _run(scores):
    return TrainRun([{"epoch": e + 1, "train_loss": 0.0, "valid_score": s} for e, s in enumerate(scores)],
                    0, math.nan, None, False)


def test_select_best_scans_every_epoch_of_every_lr():
    runs = {1e-5: _run([0.50, 0.60]), 1e-4: _run([0.70, 0.90, 0.80]), 2e-4: _run([0.55, float("nan")])}
    assert select_best(runs, "roc-auc") == (1e-4, 2, 0.90)
    assert select_best(runs, "mae") == (1e-5, 1, 0.50)
    # ties go to the first learning rate listed
    assert select_best({1e-5: _run([0.7]), 1e-4: _run([0.7])}, "spearman")[0] == 1e-5
    with pytest.raises(ConfigError, match="finite"):
        select_best({1e-5: _run([float("nan")])}, "mae")


def test_every_lr_starts_from_the_same_weights(tiny_encoder, caco2_tiny, monkeypatch):
    seen = []
    real_fit = sweep_mod.fit

    def spy(model, *args, **kwargs):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(sweep_mod, "fit", spy)
    before = {k: v.clone() for k, v in tiny_encoder.model.state_dict().items()}
    finetune(tiny_encoder, caco2_tiny, n_layers=3, lrs=(1e-3, 2e-3), config=TrainConfig(epochs=1))
    assert len(seen) == 2
    for key in seen[0]:
        torch.testing.assert_close(seen[0][key], seen[1][key], rtol=0, atol=0)
    # the caller's encoder is never trained in place (n_layers=3 is the full depth)
    for key, value in tiny_encoder.model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def test_bad_sweep_options_are_named(tiny_encoder, caco2_tiny):
    with pytest.raises(ConfigError, match="empty"):
        finetune(tiny_encoder, caco2_tiny, lrs=())
    with pytest.raises(ConfigError, match="duplicates"):
        finetune(tiny_encoder, caco2_tiny, lrs=(1e-4, 1e-4))
    with pytest.raises(ConfigError, match="valid depths are 1..3"):
        finetune(tiny_encoder, caco2_tiny, n_layers=7)
