"""The finetune run's frozen probe is the probe sweep's own linear probe (one code path)."""

from __future__ import annotations

import numpy as np
import pytest

from molstrata.core.errors import ConfigError
from molstrata.data import load_task
from molstrata.runs import sweep
from molstrata.runs.finetune import auto_layers, frozen_scores


@pytest.mark.parametrize("task", ["caco2_wang", "hia_hou"])
def test_frozen_scores_are_the_sweeps_linear_probe_bit_for_bit(hash_encoder, data_dir, tmp_path, task):
    run = sweep([hash_encoder], task, [1], out=tmp_path / "probe", data_dir=data_dir,
                strategy="valid", report=False, progress=False)
    (scores,) = run.scores
    frozen = frozen_scores(hash_encoder, load_task(task, seed=1, data_dir=data_dir))
    valid = frozen[frozen["split"] == "valid"].sort_values("layer")["score"].to_numpy()
    test = frozen[frozen["split"] == "test"].sort_values("layer")["score"].to_numpy()
    assert np.array_equal(valid, scores.valid_scores)  # bytes, not a tolerance
    assert np.array_equal(test, scores.test_scores)


def test_auto_layers_rank_validation_means_in_the_metric_direction():
    import pandas as pd

    rows = [{"layer": k, "split": split, "seed": s, "score": v}
            for k, valid, test in [(1, 0.9, 0.1), (2, 0.5, 0.9), (3, 0.7, 0.5), (4, 0.6, 0.2)]
            for s in (1, 2) for split, v in (("valid", valid), ("test", test))]
    frozen = pd.DataFrame(rows)
    assert auto_layers(frozen, "mae", num_layers=4, top_m=2) == [2, 3, 4]  # lower is better
    assert auto_layers(frozen, "roc-auc", num_layers=4, top_m=2) == [1, 3, 4]


def test_run_finetune_takes_seed_ranges_before_loading_anything(tmp_path):
    from molstrata.runs import run_finetune

    with pytest.raises(ConfigError, match="--seeds: 'x' is not an integer"):
        run_finetune("no-such-encoder", "caco2_wang", seeds="1-2,x", out=tmp_path / "ft")


class _KilledAfter:
    """An executor that runs the first ``n`` trials in order, hands each to ``on_result``,
    then dies as a killed job would (the rest never run)."""

    name, embeds = "local", False

    def __init__(self, n: int) -> None:
        self.n = n

    def map(self, fn, items, *, shared=None, resources=None, desc=None, on_result=None, keep=True):
        for i, item in enumerate(items[: self.n]):
            result = fn(item, **(shared or {}))
            if on_result is not None:
                on_result(i, result)
        raise KeyboardInterrupt("killed")

    def describe(self):
        return {"executor": "killed-after"}

    def close(self):
        pass


def test_cells_are_written_as_their_trials_finish_on_an_executor(tiny_roberta_dir, data_dir, tmp_path):
    """With an executor, a (depth, seed) cell is finished and written to ``cells/`` as soon as
    its own trials are back: a run killed midway keeps it (not only its checkpoints), and the
    resumed run writes the same tables as a run that was never stopped."""
    import torch

    from molstrata.finetune.train import TrainConfig
    from molstrata.runs.finetune import run_finetune

    kw = dict(layers=[1], seeds=[1], lrs=[1e-3, 1e-4], top_m=0, data_dir=data_dir, device="cpu",
              config=TrainConfig(epochs=2, patience=2, batch_size=32), progress=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same thread count for every run: bit-identical training
    try:
        run_finetune(str(tiny_roberta_dir), "hia_hou", out=tmp_path / "whole", **kw)
        with pytest.raises(KeyboardInterrupt):  # trials: (1, 1, 1e-3), (1, 1, 1e-4), (3, 1, ...) ...
            run_finetune(str(tiny_roberta_dir), "hia_hou", out=tmp_path / "killed",
                         executor=_KilledAfter(3), **kw)
        cells = sorted(p.name for p in (tmp_path / "killed" / "cells").iterdir())
        assert cells == ["hia_hou_layer1_seed1.json"]  # depth 1's two trials were done; depth 3's one of two
        assert not list((tmp_path / "killed" / "checkpoints" / "hia_hou_layer1_seed1").glob("*.pt"))
        run_finetune(str(tiny_roberta_dir), "hia_hou", out=tmp_path / "killed", **kw)
    finally:
        torch.set_num_threads(threads)
    for name in ("finetune_results.csv", "summary.csv", "leaderboard.json"):
        assert (tmp_path / "killed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
