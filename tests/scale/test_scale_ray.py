"""The Ray executor against the in-process runs, on a local Ray instance (2 CPUs, started
once for this module; no network). Every comparison is with a run that never touched Ray:
byte-equal tables, byte-equal cache chunks, equal arrays."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

import molstrata.embeddings.cache as cache_mod
import molstrata.runs.probe as runner
from extras import installed_or_skip
from molstrata.runs import sweep

TASKS = "hia_hou,caco2_wang"
SEEDS = [1, 2]
TABLES = ("probe_results.csv", "summary.csv", "leaderboard.json")


@pytest.fixture(scope="module")
def ray_executor():
    """The executor's own local start (``address="local"``): a fresh Ray instance with 2 CPUs
    and a short temp dir, shut down by ``close()``."""
    import ray

    from molstrata.scale.ray_executor import RayExecutor

    mp = pytest.MonkeyPatch()
    mp.delenv("RAY_ADDRESS", raising=False)
    from molstrata.scale.ray_executor import patient_local_start

    patient_local_start(mp.setattr, wait_s=120)
    tmp = tempfile.mkdtemp(prefix="msray", dir="/tmp")
    ex = None
    try:
        ex = RayExecutor("local", num_cpus=2,
                         init_kwargs={"_temp_dir": tmp, "log_to_driver": False})
        assert ex.mode == "local" and ray.cluster_resources()["CPU"] == 2
        yield ex
    finally:
        if ex is not None:
            ex.close()
        assert not ray.is_initialized()
        mp.undo()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def encoder(tiny_roberta_dir):
    from molstrata.encoders import load_encoder

    return load_encoder(str(tiny_roberta_dir), device="cpu")


@pytest.fixture(scope="module")
def reference(encoder, data_dir, tmp_path_factory) -> Path:
    """The in-process sweep (no executor): 2 tasks x every layer x 2 seeds."""
    out = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path_factory.mktemp("reference_cache")))
        sweep([encoder], TASKS, SEEDS, out=out, data_dir=data_dir, report=False, progress=False)
    return out


def assert_same_tables(run: Path, ref: Path) -> None:
    for name in TABLES:
        assert (run / name).read_bytes() == (ref / name).read_bytes(), name
    preds = sorted(p.name for p in (ref / "predictions").iterdir())
    assert len(preds) == 4
    assert sorted(p.name for p in (run / "predictions").iterdir()) == preds
    for name in preds:
        assert (run / "predictions" / name).read_bytes() == (ref / "predictions" / name).read_bytes()


def test_probe_sweep_on_ray_matches_the_local_tables(ray_executor, encoder, reference, data_dir,
                                                      tmp_path):
    out = tmp_path / "ray"
    run = sweep([encoder], TASKS, SEEDS, out=out, data_dir=data_dir, report=False,
                progress=False, executor=ray_executor)
    assert run.resumed_cells == 0 and len(run.scores) == 4
    assert all(s.n_layers == encoder.num_layers + 1 for s in run.scores)
    assert_same_tables(out, reference)
    # the embeddings were computed (on Ray, this test's cache was empty) and cached
    chunks = list(Path(os.environ["MOLSTRATA_CACHE_DIR"]).glob("embeddings/*/chunks/*/meta.json"))
    assert chunks


def test_embedding_split_over_two_workers_gives_the_local_cache(ray_executor, encoder, data_dir,
                                                                tmp_path, monkeypatch):
    from molstrata.data import load_task
    from molstrata.embeddings import embed_cached

    split = load_task("hia_hou", seed=1, data_dir=data_dir)
    smiles = [s for part in ("train", "valid", "test") for s in split.smiles(part)]
    local = embed_cached(encoder, smiles, cache_dir=tmp_path / "a", chunk_size=150)

    pids = tmp_path / "pids"
    pids.mkdir()
    real = cache_mod.embed_chunk

    def recording(part, **kw):  # runs in a Ray worker: leave a mark naming the process
        import os
        import uuid

        (pids / f"{os.getpid()}-{uuid.uuid4().hex}").touch()
        return real(part, **kw)

    monkeypatch.setattr(cache_mod, "embed_chunk", recording)
    on_ray = embed_cached(encoder, smiles, cache_dir=tmp_path / "b", chunk_size=150,
                          executor=ray_executor)
    monkeypatch.undo()
    workers = {p.name.split("-")[0] for p in pids.iterdir()}
    assert len(list(pids.iterdir())) == 4  # 578 molecules / 150 per chunk
    assert len(workers) >= 2 and str(os.getpid()) not in workers

    assert on_ray.meta["cache"]["computed"] == local.meta["cache"]["computed"] > 450
    assert on_ray.meta["cache"]["hits"] == local.meta["cache"]["hits"] == 0
    for a, b in zip(local.layers, on_ray.layers, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(local.valid, on_ray.valid)

    def chunk_files(root: Path) -> dict[str, bytes]:
        # the chunks' content; verified.json only records which files were hashed, and when
        files = sorted(f for f in root.glob("embeddings/*/chunks/*/*") if f.name != "verified.json")
        return {f.relative_to(root).as_posix(): f.read_bytes() for f in files}

    a, b = chunk_files(tmp_path / "a"), chunk_files(tmp_path / "b")
    assert len(a) > 4 * 3 and a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a)
    # a local rerun on the Ray-written cache computes nothing
    again = embed_cached(encoder, smiles, cache_dir=tmp_path / "b", chunk_size=150)
    assert again.meta["cache"]["computed"] == 0
    np.testing.assert_array_equal(again.layers[-1], local.layers[-1])


def test_a_worker_killed_mid_sweep_is_retried_to_the_same_tables(ray_executor, encoder, reference,
                                                                 data_dir, tmp_path, monkeypatch):
    marker = tmp_path / "killed"
    real = runner._probe_cell

    def dying(cell, **kw):  # the first cell to start kills its worker process, once
        import os

        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return real(cell, **kw)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os._exit(1)

    monkeypatch.setattr(runner, "_probe_cell", dying)
    out = tmp_path / "ray"
    sweep([encoder], TASKS, SEEDS, out=out, data_dir=data_dir, report=False, progress=False,
          executor=ray_executor)
    assert marker.is_file() and int(marker.read_text()) != os.getpid()
    assert_same_tables(out, reference)


def test_a_local_run_resumes_on_ray_from_the_command_line(ray_executor, encoder, reference,
                                                          data_dir, tiny_roberta_dir, tmp_path,
                                                          monkeypatch):
    from typer.testing import CliRunner

    from molstrata.cli import app
    from molstrata.core.config import load_config

    out = tmp_path / "run"
    calls = {"n": 0}
    real = runner.fit_layers

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "fit_layers", dying)
    with pytest.raises(RuntimeError, match="killed"):
        sweep([encoder], TASKS, SEEDS, out=out, data_dir=data_dir, report=False, progress=False)
    monkeypatch.setattr(runner, "fit_layers", real)
    assert len(list((out / "cells").rglob("layer*.npz"))) == 2 * (encoder.num_layers + 1)

    result = CliRunner().invoke(app, [
        "probe", "--encoder", str(tiny_roberta_dir), "--tasks", TASKS, "--seeds", "1,2",
        "--out", str(out), "--data-dir", str(data_dir), "--device", "cpu", "--no-report",
        "--executor", "ray",
    ])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert f"resumed: {2 * (encoder.num_layers + 1)} " in result.output
    assert load_config(out)["params"]["executor"]["executor"] == "ray"
    assert_same_tables(out, reference)


@pytest.mark.slow
def test_finetune_trials_on_ray_match_the_local_run(ray_executor, tiny_roberta_dir, data_dir,
                                                    tmp_path):
    import torch

    from molstrata.finetune.train import TrainConfig
    from molstrata.runs.finetune import run_finetune

    kw = dict(layers="3", seeds=[1], lrs=[1e-3, 1e-4], top_m=0, data_dir=data_dir, device="cpu",
              config=TrainConfig(epochs=2, patience=2, batch_size=32), progress=False)
    # a Ray task with num_cpus=1 trains with one torch thread; CPU training is bit-identical
    # only at the same thread count (float reductions are split by thread)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_finetune(str(tiny_roberta_dir), "hia_hou", out=tmp_path / "local", **kw)
    finally:
        torch.set_num_threads(threads)
    run_finetune(str(tiny_roberta_dir), "hia_hou", out=tmp_path / "ray", executor=ray_executor, **kw)
    for name in ("finetune_results.csv", "summary.csv", "leaderboard.json"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    preds = sorted(p.name for p in (tmp_path / "local" / "predictions").iterdir())
    assert preds == ["hia_hou_layer3_seed1.csv"]
    for name in preds:
        assert ((tmp_path / "ray" / "predictions" / name).read_bytes()
                == (tmp_path / "local" / "predictions" / name).read_bytes())
    assert not list((tmp_path / "ray").rglob("*.pt"))  # trial checkpoints cleaned up


@pytest.mark.slow  # Ray's task overhead: about 40 s on a loaded 2-core box
def test_a_tuned_head_on_ray_matches_the_local_tables(ray_executor, encoder, data_dir, tmp_path):
    """``--probe gbdt-tuned`` (issue 21) through the same cells on Ray: the local run's tables."""
    installed_or_skip("lightgbm", "this test")
    params = {"grid": [{"num_leaves": 4}, {"num_leaves": 8, "min_child_samples": 5}], "n_estimators": 30,
              "early_stopping_rounds": 5}
    kw = dict(out=None, data_dir=data_dir, model="gbdt-tuned", params=params, strategy="ensemble",
              report=False, progress=False)
    for name, executor in (("local", None), ("ray", ray_executor)):
        sweep([encoder], "caco2_wang", [1], **{**kw, "out": tmp_path / name}, executor=executor)
    for name in ("probe_results.csv", "summary.csv", "selection.csv"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
