"""Label problems name the task, the file and its 1-based line numbers, before anything runs."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from molstrata.core import errors
from molstrata.data import load_csv_task, load_task
from molstrata.report import tables


def _admet_copy(data_dir: Path, tmp_path: Path, task: str) -> Path:
    """A data folder holding one TDC task, copied so that a test may damage its labels."""
    root = tmp_path / "data"
    shutil.copytree(data_dir / "admet_group" / task, root / "admet_group" / task)
    return root


def _edit(path: Path, rows: list[int], value: object) -> None:
    frame = pd.read_csv(path)
    frame["Y"] = frame["Y"].astype(object)
    frame.loc[rows, "Y"] = value
    frame.to_csv(path, index=False)


def _load(task: str, root: Path, seed: int = 1):
    with warnings.catch_warnings():  # "differs from the official archive"
        warnings.simplefilter("ignore")
        return load_task(task, seed=seed, data_dir=root)


def test_nan_test_labels_name_task_file_and_lines(data_dir, tmp_path):
    root = _admet_copy(data_dir, tmp_path, "caco2_wang")
    test_csv = root / "admet_group" / "caco2_wang" / "test.csv"
    _edit(test_csv, [5, 17], np.nan)
    with pytest.raises(errors.LabelError) as info:
        _load("caco2_wang", root).check_labels()
    msg = str(info.value)
    assert "caco2_wang" in msg and str(test_csv) in msg and "lines 7, 19" in msg  # header = line 1
    assert "\n" not in msg


def test_train_val_label_lines_follow_the_split(data_dir, tmp_path):
    root = _admet_copy(data_dir, tmp_path, "caco2_wang")
    path = root / "admet_group" / "caco2_wang" / "train_val.csv"
    _edit(path, [100], "not a number")
    with pytest.raises(errors.LabelError, match=rf"non-numeric .*'not a number'.* {path} line 102$"):
        _load("caco2_wang", root).check_labels()


def test_probe_stops_on_nan_test_labels_before_any_cell(data_dir, tmp_path):
    from molstrata.cli import app

    root = _admet_copy(data_dir, tmp_path, "caco2_wang")
    _edit(root / "admet_group" / "caco2_wang" / "test.csv", [3], np.nan)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "probe", "--encoder", "default", "--device", "cpu", "--tasks", "caco2_wang",
        "--seeds", "1", "--out", str(out), "--data-dir", str(root), "--no-report",
    ])
    assert isinstance(result.exception, errors.LabelError), result.output
    assert "test.csv line 5" in str(result.exception)
    assert list(out.rglob("*.npz")) == [] and not (out / "summary.csv").exists()


def test_finetune_checks_labels_first(data_dir, tmp_path, monkeypatch):
    from molstrata.runs import finetune as ft

    root = _admet_copy(data_dir, tmp_path, "caco2_wang")
    _edit(root / "admet_group" / "caco2_wang" / "test.csv", [0], np.nan)

    def no_training(*args, **kwargs):
        raise AssertionError("computed something before the labels were checked")

    monkeypatch.setattr(ft, "frozen_scores", no_training)
    with pytest.raises(errors.LabelError, match="test.csv line 2"):
        ft.run_finetune("default", "caco2_wang", seeds=[1], layers="all", out=tmp_path / "ft",
                        data_dir=root, device="cpu", progress=False)


def test_single_class_is_a_clear_error(data_dir, tmp_path):
    root = _admet_copy(data_dir, tmp_path, "hia_hou")
    _edit(root / "admet_group" / "hia_hou" / "test.csv", slice(None), 1)
    with pytest.raises(errors.LabelError, match=r"hia_hou: every test label is 1 \(a single class in .*hia_hou/test.csv\)"):
        _load("hia_hou", root).check_labels()


def test_constant_regression_targets_are_a_clear_error(data_dir, tmp_path):
    root = _admet_copy(data_dir, tmp_path, "caco2_wang")
    _edit(root / "admet_group" / "caco2_wang" / "train_val.csv", slice(None), -5.0)
    with pytest.raises(errors.LabelError, match=r"all \d+ train targets equal -5 in .*train_val.csv; a probe cannot be fitted"):
        _load("caco2_wang", root).check_labels()


def test_probe_api_checks_labels(data_dir, tmp_path):
    from molstrata.core.embeddings import LayerEmbeddings
    from molstrata.probe import probe

    root = _admet_copy(data_dir, tmp_path, "hia_hou")
    _edit(root / "admet_group" / "hia_hou" / "test.csv", slice(None), 0)
    split = _load("hia_hou", root)
    smiles = tuple(dict.fromkeys(s for p in ("train", "valid", "test") for s in split.smiles(p)))
    rng = np.random.default_rng(0)
    emb = LayerEmbeddings(layers=(rng.normal(size=(len(smiles), 4)).astype(np.float32),),
                          valid=np.ones(len(smiles), bool), smiles=smiles)
    with pytest.raises(errors.LabelError, match="single class"):
        probe(emb, split)


def test_user_csv_label_errors_give_file_lines(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("smiles,y\nCCO,1.0\n\nCCN,\nCCC,abc\n")  # a blank line 3: CCN is on line 4
    with pytest.raises(errors.LabelError, match=rf"non-numeric labels, e.g. 'abc', at {bad} line 5$"):
        load_csv_task(bad, target_cols="y")
    bad.write_text("smiles,y\nCCO,1.0\nCCN,\nCCC,2\n")
    with pytest.raises(errors.LabelError, match=rf"bad: column 'y' has missing labels at {bad} line 3"):
        load_csv_task(bad, target_cols="y")


def test_delta_percent_is_never_plus_nan():
    assert tables.format_pct(float("nan")) == "n/a" and tables.format_pct(None) == "n/a"
    assert tables.format_pct(4.06) == "+4.1%" and tables.format_pct(-1.234, 2) == "-1.23%"
    per_task = pd.DataFrame([{
        "encoder": "e", "task": "t", "metric": "roc-auc", "final_mean": np.nan, "final_std": np.nan,
        "chosen_mean": np.nan, "chosen_std": np.nan, "choices": "1", "gain_pct": np.nan,
        "gain_abs": np.nan, "within_spread": False, "depth": np.nan, "single_mean": np.nan,
        "single_std": np.nan, "single_layers": "1", "oracle_layer": 1, "oracle_mean": np.nan,
        "oracle_std": np.nan, "optimism_pct": np.nan, "optimism_abs": np.nan,
        "baseline_mean": np.nan, "baseline_std": np.nan, "sota": np.nan, "sota_model": "", "sota_date": "",
    }])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of an all-NaN column
        text = (tables.gain_table(per_task, "valid") + tables.optimism_table(per_task)
                + tables.overview_table(per_task, "valid") + tables.context_table(per_task, "valid"))
    assert "nan%" not in text and "n/a" in text
