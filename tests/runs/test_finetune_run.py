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
