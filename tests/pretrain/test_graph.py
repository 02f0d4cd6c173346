"""Graph pretraining by descriptor regression: smoke run, exported weights, exact resume."""

from __future__ import annotations

import json

import numpy as np
import torch

from molstrata.pretrain.descriptors import apply_standardizer, compute_descriptors, fit_standardizer
from molstrata.pretrain.graph import GraphPretrainConfig, train_graph

TINY = dict(batch_size=8, num_layers=2, hidden=32, stats_molecules=10, log_every=1,
            eval_every=2, n_eval=6, threads=1)


def _cfg(**kw):
    return GraphPretrainConfig(**{**TINY, **kw})


def test_descriptors_match_rdkit_and_standardise():
    from rdkit import Chem
    from rdkit.Chem import Crippen, Descriptors, rdMolDescriptors

    from molstrata.pretrain.descriptors import descriptor_names

    names = descriptor_names()
    assert "Ipc" not in names and not any(n.startswith("fr_") for n in names)
    x = compute_descriptors(["c1ccccc1O", "CCN", "not a smiles"], names)
    mol = Chem.MolFromSmiles("c1ccccc1O")
    assert x[0, names.index("MolLogP")] == Crippen.MolLogP(mol)
    assert x[0, names.index("TPSA")] == rdMolDescriptors.CalcTPSA(mol)
    assert x[0, names.index("MolWt")] == Descriptors.MolWt(mol)
    assert np.isnan(x[2]).all()
    stats = fit_standardizer(x[:2])
    z = apply_standardizer(x, stats)
    assert np.isfinite(z).all() and (z[2] == 0).all()
    col = names.index("MolWt")
    ref = (x[:2, col] - x[:2, col].mean()) / x[:2, col].std()
    np.testing.assert_allclose(z[:2, col], ref, rtol=1e-5)


def test_graph_smoke_and_exact_resume(small_corpus_dir, data_dir, tmp_path):
    from safetensors.torch import load_file

    from molstrata.encoders.graph.gin import load_gine

    full = tmp_path / "full"
    s = train_graph([small_corpus_dir], full, _cfg(steps=4), data_dir=data_dir, n_valid=6, progress=False)
    assert s["step"] == 4 and np.isfinite(s["valid_loss"])
    recs = [json.loads(x) for x in (full / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs if r["split"] == "valid"] == [2, 4]
    model, meta = load_gine(full / "model")
    assert model.num_layers == 2 and meta["pretraining"]["objective"] == "rdkit-descriptor-regression"

    part = tmp_path / "part"
    s1 = train_graph([small_corpus_dir], part, _cfg(steps=4, max_minutes=0.0), data_dir=data_dir,
                     n_valid=6, progress=False)
    assert s1["step"] == 1
    s2 = train_graph([small_corpus_dir], part, _cfg(steps=4), data_dir=data_dir, n_valid=6,
                     resume=True, progress=False)
    assert s2["step"] == 4
    for name in ("model.safetensors", "head.safetensors"):
        a = load_file(str(full / "checkpoint" / name))
        b = load_file(str(part / "checkpoint" / name))
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)


def test_every_layer_supervision_trains_one_linear_head_per_layer(small_corpus_dir, data_dir, tmp_path):
    from torch import nn

    from molstrata.pretrain.graph import DescriptorHead, _loss, _predict

    head = DescriptorHead.build(32, 7, "every-layer", num_layers=3)
    assert isinstance(head, nn.ModuleList) and len(head) == 3
    assert all(isinstance(h, nn.Linear) for h in head)
    # the objective is the mean of the per-layer MSEs, not their sum or the last one
    y = torch.zeros(4, 2)
    preds = [torch.ones(4, 2), 3 * torch.ones(4, 2)]
    assert float(_loss(preds, y)) == (1.0 + 9.0) / 2

    from molstrata.encoders.graph.gin import GINE
    from molstrata.encoders.graph.graph_features import batch_graphs

    model = GINE(hidden=32, num_layers=3)
    out = _predict(model, head, batch_graphs(["CCO", "c1ccccc1", "CC(=O)O"]))
    assert [tuple(p.shape) for p in out] == [(3, 7)] * 3
    last = _predict(model, DescriptorHead.build(32, 7, "last"), batch_graphs(["CCO"]))
    assert len(last) == 1

    runs = {}
    for mode in ("every-layer", "last"):
        runs[mode] = train_graph([small_corpus_dir], tmp_path / mode, _cfg(steps=2, supervise=mode),
                                 data_dir=data_dir, n_valid=6, progress=False)
        assert runs[mode]["supervise"] == mode and np.isfinite(runs[mode]["valid_r2_min_layer"])
    # every-layer: the worst layer's R² is at most the last layer's; last: they are the same number
    assert runs["every-layer"]["valid_r2_min_layer"] <= runs["every-layer"]["valid_r2_mean"]
    assert runs["last"]["valid_r2_min_layer"] == runs["last"]["valid_r2_mean"]


def test_unknown_supervise_is_a_config_error():
    import pytest

    from molstrata.core.errors import ConfigError

    with pytest.raises(ConfigError, match="supervise='middle'"):
        _cfg(supervise="middle")


def test_script_entry_point_parses_string_options(small_corpus_dir, data_dir, tmp_path, capsys):
    from molstrata.pretrain.graph import main

    main(["--corpus", str(small_corpus_dir), "--out", str(tmp_path / "r"), "--data-dir", str(data_dir),
          "--steps", "1", "--batch-size", "4", "--num-layers", "1", "--hidden", "16",
          "--stats-molecules", "10", "--n-eval", "4", "--supervise", "last"])
    cfg = json.loads((tmp_path / "r" / "run_config.json").read_text())["config"]
    assert cfg["supervise"] == "last" and cfg["num_layers"] == 1
