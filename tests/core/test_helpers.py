"""The one home of each cross-cutting helper: seeds, metric direction, delta %, progress,
devices, user CSVs."""

from __future__ import annotations

import numpy as np
import pytest

from molstrata.core.device import resolve_device
from molstrata.core.errors import ConfigError
from molstrata.core.progress import progress
from molstrata.core.seed import parse_seeds
from molstrata.data import delta_pct, higher_is_better
from molstrata.data.user_csv import SMILES_COLUMNS, read_smiles_csv


def test_parse_seeds_takes_lists_and_ranges():
    assert parse_seeds("1-3") == [1, 2, 3]
    assert parse_seeds("1-3,5") == [1, 2, 3, 5]
    assert parse_seeds([3, 1]) == [3, 1]
    with pytest.raises(ConfigError, match="--seeds: 'a' is not an integer"):
        parse_seeds("1,a")
    with pytest.raises(ConfigError, match="no seeds"):
        parse_seeds(" , ")


def test_metric_direction_and_delta_pct():
    assert not higher_is_better("mae") and not higher_is_better("RMSE")
    assert higher_is_better("roc-auc") and higher_is_better("spearman")
    with pytest.raises(ConfigError):
        higher_is_better("accuracy")
    assert delta_pct(0.5, 0.4, "mae") == pytest.approx(20.0)
    assert np.isnan(delta_pct(0.0, 0.3, "spearman"))
    np.testing.assert_allclose(delta_pct(np.array([1.0, 0.0]), np.array([1.5, 1.0]), "roc-auc"),
                               [50.0, np.nan])


def test_a_hidden_progress_bar_does_nothing():
    with progress("x", 3, show=False) as bar:
        bar.advance(2, description="y")
        bar.describe("z")
    assert not bar


def test_an_explicit_device_wins():
    assert resolve_device("cpu") == "cpu" and resolve_device("cuda:1") == "cuda:1"
    assert resolve_device(None) in ("cpu", "cuda")


@pytest.mark.parametrize("column", SMILES_COLUMNS)
def test_one_smiles_reader_for_every_command(tmp_path, column):
    path = tmp_path / "mols.csv"
    path.write_text(f"id,{column}\na,CCO\nb,\n")
    assert read_smiles_csv(path, None, "id") == (["CCO", ""], ["a", "b"], column)


def test_smiles_reader_errors_name_the_file_and_columns(tmp_path):
    path = tmp_path / "mols.csv"
    path.write_text("id,x\na,CCO\n")
    with pytest.raises(ConfigError, match=r"--input .*mols.csv: no SMILES column .*columns: id, x"):
        read_smiles_csv(path)
    with pytest.raises(ConfigError, match="--smiles-col 'nope' is not a column of"):
        read_smiles_csv(path, "nope")
