"""``molstrata tasks`` through the real Typer app."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from molstrata.cli import app, main
from molstrata.cli.tasks import task_rows

runner = CliRunner()


def test_tasks_table_reads_sizes_from_data(data_dir):
    result = runner.invoke(app, ["tasks", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert len(lines) == 22
    for name in ("caco2_wang", "cyp3a4_substrate_carbonmangels", "solubility_aqsoldb"):
        n_tv = len(pd.read_csv(data_dir / "admet_group" / name / "train_val.csv"))
        n_test = len(pd.read_csv(data_dir / "admet_group" / name / "test.csv"))
        cells = [c.strip() for c in lines[name].split("│")[1:-1]]
        assert cells[4:] == [str(n_tv), str(n_test)]
    assert "│ caco2_wang " in result.output and "│ mae " in lines["caco2_wang"]
    assert "roc-auc" in lines["cyp3a4_substrate_carbonmangels"]


def test_tasks_env_var_and_moleculenet_group(data_dir, monkeypatch):
    monkeypatch.setenv("MOLSTRATA_DATA_DIR", str(data_dir))
    rows = {r["name"]: r for r in task_rows("moleculenet")}
    assert rows["moleculenet:tox21"]["targets"] == 12
    assert rows["moleculenet:hiv"]["train_val"] == 41127  # blank lines in HIV.csv are skipped
    result = runner.invoke(app, ["tasks", "--group", "moleculenet"])
    assert result.exit_code == 0 and "moleculenet:sider" in result.output


def _run_main(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["molstrata", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code


def test_missing_data_is_one_friendly_line(tmp_path, monkeypatch, capsys):
    code = _run_main(monkeypatch, "tasks", "--data-dir", str(tmp_path))
    err = capsys.readouterr().err
    assert code == 2
    assert "error:" in err and "MOLSTRATA_DATA_DIR" in err and "--data-dir" in err
    assert "Traceback" not in err


def test_bad_group_is_a_friendly_error(data_dir, monkeypatch, capsys):
    code = _run_main(monkeypatch, "tasks", "--group", "tox", "--data-dir", str(data_dir))
    err = capsys.readouterr().err
    assert code == 2 and "--group" in err and "'moleculenet'" in err and "Traceback" not in err


def test_group_all_marks_missing_moleculenet_files(data_dir, tmp_path):
    (tmp_path / "admet_group").symlink_to(data_dir / "admet_group")
    rows = {r["name"]: r for r in task_rows("all", tmp_path)}
    assert len(rows) == 31
    assert rows["moleculenet:bace"]["train_val"] == "not found"
    assert rows["ames"]["test"] == 1457
