"""The probe's tables are byte-identical between OMP_NUM_THREADS=1 on a cold cache and
OMP_NUM_THREADS=2 on the warm one (issue 17 §4; the README main job, one task and seed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import molstrata

SRC = Path(molstrata.__file__).resolve().parents[1]
TABLES = ("summary.csv", "probe_results.csv", "leaderboard.json")


def _probe(out: Path, cache: Path, data_dir: Path, threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "MOLSTRATA_CACHE_DIR": str(cache), "MOLSTRATA_DATA_DIR": str(data_dir),
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-m", "molstrata.cli", "probe", "--encoder", "default",
                    "--tasks", "caco2_wang", "--seeds", "1,2", "--probe", "linear", "--out", str(out)],
                   env=env, check=True, capture_output=True, text=True, timeout=900)


def test_tables_identical_across_threads_and_cache_state(data_dir, tmp_path):
    cache = tmp_path / "cache"
    _probe(tmp_path / "a", cache, data_dir, 1)  # cold cache, one thread
    _probe(tmp_path / "b", cache, data_dir, 2)  # warm cache, two threads
    for name in TABLES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    preds = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "predictions").rglob("*") if p.is_file())
    assert preds
    for rel in preds:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
