"""The sweep: one embedding pass, resumable cells, refused settings changes."""

from __future__ import annotations

import pandas as pd
import pytest

import molstrata.runs.probe as sweep_mod
from molstrata.core.errors import ConfigError
from molstrata.runs import sweep

TASKS = "hia_hou,caco2_wang"


def test_sweep_resumes_after_a_kill(hash_encoder, data_dir, tmp_path, monkeypatch):
    reference = sweep([hash_encoder], TASKS, [1, 2], out=tmp_path / "ref", data_dir=data_dir,
                      report=False, progress=False)
    calls = {"n": 0}
    real = sweep_mod.fit_layers

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_mod, "fit_layers", dying)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        sweep([hash_encoder], TASKS, [1, 2], out=out, data_dir=data_dir, report=False, progress=False)
    cells = sorted(p.name for p in (out / "cells").rglob("layer*.npz"))
    assert len(cells) == 3 * 3  # three (task, seed) jobs finished, 3 layers each
    assert not list((out / "cells").rglob("*.tmp"))
    monkeypatch.setattr(sweep_mod, "fit_layers", real)
    resumed = sweep([hash_encoder], TASKS, [1, 2], out=out, data_dir=data_dir, report=False, progress=False)
    assert resumed.resumed_cells == 9
    pd.testing.assert_frame_equal(pd.read_csv(out / "probe_results.csv"),
                                  pd.read_csv(tmp_path / "ref" / "probe_results.csv"))
    assert [s.selected_layer for s in resumed.scores] == [s.selected_layer for s in reference.scores]


def test_sweep_embeds_each_molecule_once(hash_encoder, data_dir, tmp_path, monkeypatch):
    import molstrata.embeddings as emb_mod

    seen = []
    real = emb_mod.embed_cached

    def spy(encoder, smiles, **kw):
        seen.append(list(smiles))
        return real(encoder, smiles, **kw)

    monkeypatch.setattr(emb_mod, "embed_cached", spy)
    sweep([hash_encoder], TASKS, [1, 2, 3], out=tmp_path, data_dir=data_dir, report=False, progress=False)
    assert len(seen) == 1 and len(seen[0]) == len(set(seen[0]))
    from molstrata.data import load_task

    expected = set()
    for t in TASKS.split(","):
        sp = load_task(t, 1, data_dir)
        expected |= set(sp.smiles("train") + sp.smiles("valid") + sp.smiles("test"))
    assert set(seen[0]) == expected


def test_sweep_refuses_mixed_settings(hash_encoder, data_dir, tmp_path):
    sweep([hash_encoder], "caco2_wang", [1], out=tmp_path, data_dir=data_dir, report=False, progress=False)
    with pytest.raises(ConfigError, match="other settings.*probe"):
        sweep([hash_encoder], "caco2_wang", [1], model="gbdt", out=tmp_path, data_dir=data_dir,
              report=False, progress=False)


def test_seed_and_task_parsing():
    from molstrata.runs.probe import parse_seeds, resolve_tasks

    assert parse_seeds("1-3,5") == [1, 2, 3, 5]
    assert parse_seeds("2, 1") == [2, 1]
    with pytest.raises(ConfigError, match="'a'"):
        parse_seeds("1,a")
    assert len(resolve_tasks("admet")) == 22
    assert resolve_tasks("Caco2_Wang, herg") == ["caco2_wang", "herg"]
    with pytest.raises(ConfigError, match="caco"):
        resolve_tasks("caco2")


def test_two_encoders_in_one_report(data_dir, tmp_path, make_hash_encoder):
    import json

    encs = [make_hash_encoder("hash-a", seed=0), make_hash_encoder("hash-b", seed=1)]
    run = sweep(encs, "caco2_wang,hia_hou", [1], out=tmp_path, data_dir=data_dir, progress=False)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert sorted(summary["encoder"].unique()) == ["hash-a", "hash-b"] and len(summary) == 4
    for enc in ("hash-a", "hash-b"):
        board = json.loads((tmp_path / "leaderboard" / f"{enc}.json").read_text())
        assert set(board) == {"caco2_wang", "hia_hou"}
        assert (tmp_path / "predictions" / enc / "caco2_wang_seed1.csv").is_file()
    text = run.files["report"].read_text()
    assert "hash-a" in text and "hash-b" in text
    assert (tmp_path / "figures" / "delta_heatmap.png").is_file()
