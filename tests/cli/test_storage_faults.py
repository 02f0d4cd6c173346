"""Storage faults through ``molstrata`` (its ``main()``, as the script runs it): one line,
naming the path and the fix, exit code 2, never a traceback; ``--no-cache`` works around a
read-only cache on every command that caches."""

from __future__ import annotations

import pandas as pd
import pytest

import molstrata.embeddings.io as io_mod
from cli_main import run_main
from faults import disk_full, read_only, restore_writable

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C", "OC(=O)CCl", "NCCO"]


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "mols.csv"
    pd.DataFrame({"smiles": SMILES}).to_csv(path, index=False)
    return path




def _one_line_error(err: str) -> str:
    """The one ``error:`` line, last on stderr (progress lines may come before it)."""
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert "Traceback" not in err
    errors = [x for x in lines if x.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    return errors[0]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("MOLSTRATA_CACHE_DIR", str(path))
    return path


def test_read_only_cache_is_one_line_and_no_cache_works(tiny_roberta_dir, csv, tmp_path, cache,
                                                         monkeypatch, capsys):
    cache.mkdir()
    read_only(monkeypatch, cache)
    try:
        code, err = run_main(monkeypatch, capsys, "embed", "-e", tiny_roberta_dir, "-i", csv,
                          "-o", tmp_path / "out")
        line = _one_line_error(err)
        assert code == 2 and str(cache) in line
        assert "MOLSTRATA_CACHE_DIR" in line and "--no-cache" in line
        code, err = run_main(monkeypatch, capsys, "embed", "-e", tiny_roberta_dir, "-i", csv,
                          "-o", tmp_path / "out", "--no-cache")
        assert code == 0, err
    finally:
        restore_writable(cache)
    assert (tmp_path / "out" / "manifest.json").is_file()
    assert not list(cache.rglob("*.npy"))


def test_cache_path_that_is_a_file_is_one_line(tiny_roberta_dir, csv, tmp_path, cache,
                                              monkeypatch, capsys):
    cache.write_text("a file, not a folder")
    code, err = run_main(monkeypatch, capsys, "embed", "-e", tiny_roberta_dir, "-i", csv,
                      "-o", tmp_path / "out")
    line = _one_line_error(err)
    assert code == 2 and f"{cache} is a file" in line and "MOLSTRATA_CACHE_DIR" in line


def test_full_disk_while_writing_embed_output(tiny_roberta_dir, csv, tmp_path, cache,
                                              monkeypatch, capsys):
    out = tmp_path / "out"
    disk_full(monkeypatch, io_mod.np, "save", after=2)  # numpy's np.save: the cache is off
    code, err = run_main(monkeypatch, capsys, "embed", "-e", tiny_roberta_dir, "-i", csv, "-o", out,
                      "--no-cache")
    line = _one_line_error(err)
    assert code == 2 and "no space left" in line and "free space" in line and str(out) in line
    assert not [p.name for p in out.iterdir() if p.name != "config.toml"]  # no .tmp, no lone layer


def test_out_under_a_file_is_one_line(tiny_roberta_dir, csv, tmp_path, cache, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = run_main(monkeypatch, capsys, "embed", "-e", tiny_roberta_dir, "-i", csv,
                      "-o", blocker / "out")
    line = _one_line_error(err)
    assert code == 2 and str(blocker) in line


@pytest.mark.parametrize("command", ["probe", "analyze", "finetune"])
def test_every_caching_command_has_no_cache(command):
    from typer.testing import CliRunner

    from molstrata.cli import app

    res = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert "--no-cache" in res.output


def test_probe_with_read_only_cache_and_no_cache(data_dir, tmp_path, cache, monkeypatch, capsys):
    cache.mkdir()
    read_only(monkeypatch, cache)
    args = ["probe", "-e", "default", "-t", "caco2_wang", "-s", "1", "--selection", "valid",
            "--no-report", "--data-dir", data_dir]
    try:
        code, err = run_main(monkeypatch, capsys, *args, "-o", tmp_path / "a")
        line = _one_line_error(err)
        assert code == 2 and "--no-cache" in line
        code, err = run_main(monkeypatch, capsys, *args, "-o", tmp_path / "b", "--no-cache")
        assert code == 0, err
    finally:
        restore_writable(cache)
    assert (tmp_path / "b" / "summary.csv").is_file()


def test_numpy_short_write_without_errno_reads_as_a_full_disk(tmp_path):
    """numpy's ``tofile`` on a full disk raises ``OSError("N requested and M written")``."""
    from molstrata.core.files import storage_error

    err = storage_error(OSError("232960 requested and 85984 written"), tmp_path / "layer_003.npy")
    assert "no space left" in str(err) and "free space" in str(err)
