"""A few MLM steps on ~50 SMILES: runs, logs, exports an AutoModel folder, resumes exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from molstrata.core.errors import ConfigError
from molstrata.pretrain.smiles_mlm import SmilesMLMConfig, mask_tokens, train_smiles_mlm

TINY = dict(batch_size=8, num_layers=2, hidden_size=32, num_heads=2, intermediate_size=64,
            max_length=64, log_every=1, eval_every=2, n_eval=8, threads=1)


def _cfg(**kw):
    return SmilesMLMConfig(**{**TINY, **kw})


def test_masking_is_bert_80_10_10():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 40, (200, 100))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True
    special[:, -1] = True
    masked, labels = mask_tokens(ids, special, mask_id=4, vocab_size=40, n_special=5,
                                 mask_prob=0.15, generator=g)
    chosen = labels != -100
    assert not chosen[special].any()
    frac = chosen.float().mean().item() / (98 / 100)
    assert 0.13 < frac < 0.17
    n = chosen.sum().item()
    to_mask = (masked == 4) & chosen
    unchanged = (masked == ids) & chosen
    assert abs(to_mask.sum().item() / n - 0.8) < 0.03
    # 10 % random + 10 % kept; a random token equals the original ~1/35 of the time
    assert abs(unchanged.sum().item() / n - (0.1 + 0.1 / 35)) < 0.03
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(masked[~chosen], ids[~chosen])


def test_smoke_run_logs_and_exports(small_corpus_dir, data_dir, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    out = tmp_path / "run"
    summary = train_smiles_mlm([small_corpus_dir], out, _cfg(steps=4), data_dir=data_dir,
                               n_valid=8, progress=False)
    assert summary["step"] == 4
    recs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    train = [r for r in recs if r["split"] == "train"]
    valid = [r for r in recs if r["split"] == "valid"]
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    assert [r["step"] for r in valid] == [2, 4]
    assert all(np.isfinite(r["loss"]) and 0 <= r["acc"] <= 1 for r in recs)
    model = AutoModel.from_pretrained(str(out / "model"))
    tok = AutoTokenizer.from_pretrained(str(out / "model"))
    hs = model(**tok(["CCO"], return_tensors="pt"), output_hidden_states=True).hidden_states
    assert len(hs) == 3 and hs[-1].shape[-1] == 32
    assert (out / "model" / "model.safetensors").is_file()
    assert json.loads((out / "model" / "training.json").read_text())["corpus"]["n_train"] > 0


def test_resume_equals_uninterrupted(small_corpus_dir, data_dir, tmp_path):
    from safetensors.torch import load_file

    full = tmp_path / "full"
    train_smiles_mlm([small_corpus_dir], full, _cfg(steps=5), data_dir=data_dir, n_valid=8, progress=False)
    part = tmp_path / "part"
    # max_minutes=0: stops (and checkpoints) after the first step; then resumed twice
    s1 = train_smiles_mlm([small_corpus_dir], part, _cfg(steps=5, max_minutes=0.0),
                          data_dir=data_dir, n_valid=8, progress=False)
    assert s1["step"] == 1 and s1["stopped_by"] == "max_minutes"
    s2 = train_smiles_mlm([small_corpus_dir], part, _cfg(steps=5, max_minutes=0.0),
                          data_dir=data_dir, n_valid=8, resume=True, progress=False)
    assert s2["step"] == 2
    s3 = train_smiles_mlm([small_corpus_dir], part, _cfg(steps=5), data_dir=data_dir,
                          n_valid=8, resume=True, progress=False)
    assert s3["step"] == 5
    a = load_file(str(full / "checkpoint" / "model.safetensors"))
    b = load_file(str(part / "checkpoint" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_refuses_changed_settings_and_overwrite(small_corpus_dir, data_dir, tmp_path):
    out = tmp_path / "run"
    train_smiles_mlm([small_corpus_dir], out, _cfg(steps=1), data_dir=data_dir, n_valid=8, progress=False)
    with pytest.raises(ConfigError, match="lr"):
        train_smiles_mlm([small_corpus_dir], out, _cfg(steps=1, lr=1e-3), data_dir=data_dir,
                         n_valid=8, resume=True, progress=False)
    with pytest.raises(ConfigError, match="--resume"):
        train_smiles_mlm([small_corpus_dir], out, _cfg(steps=1), data_dir=data_dir, n_valid=8, progress=False)
    with pytest.raises(ConfigError, match="no checkpoint|does not exist"):
        train_smiles_mlm([small_corpus_dir], tmp_path / "new", _cfg(steps=1), data_dir=data_dir,
                         n_valid=8, resume=True, progress=False)


@pytest.mark.slow  # a subprocess start-up: slow on a busy machine
def test_sigterm_stops_cleanly_and_resumes(small_corpus_dir, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "molstrata.pretrain.smiles_mlm", "--corpus", str(small_corpus_dir),
           "--out", str(out), "--steps", "100000", "--batch-size", "4", "--num-layers", "1",
           "--hidden-size", "16", "--num-heads", "2", "--intermediate-size", "32",
           "--log-every", "1", "--eval-every", "100000", "--n-eval", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = out / "log.jsonl"
    deadline = time.monotonic() + 300
    while not (log.is_file() and log.read_text().strip()) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.5)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=300) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_by"] == "signal" and 1 <= summary["step"] < 100000
    assert (out / "checkpoint" / "trainer_state.pt").is_file() and (out / "model" / "model.safetensors").is_file()


def test_init_from_warm_starts_from_an_exported_model(small_corpus_dir, data_dir, tmp_path):
    """``init_from``: the second stage starts from the first stage's exported weights and
    tokenizer (not a fresh init), and a mismatched architecture is refused by name."""
    from safetensors.torch import load_file
    from transformers import RobertaForMaskedLM

    first = tmp_path / "stage1"
    train_smiles_mlm([small_corpus_dir], first, _cfg(steps=3), data_dir=data_dir, n_valid=8,
                     progress=False)
    start = RobertaForMaskedLM.from_pretrained(str(first / "model")).state_dict()
    # zero steps of real change: lr so small that the weights stay within float noise
    second = tmp_path / "stage2"
    train_smiles_mlm([small_corpus_dir], second, _cfg(steps=1, lr=1e-12, init_from=str(first / "model")),
                     data_dir=data_dir, n_valid=8, progress=False)
    got = load_file(str(second / "checkpoint" / "model.safetensors"))
    fresh = tmp_path / "fresh"
    train_smiles_mlm([small_corpus_dir], fresh, _cfg(steps=1, lr=1e-12), data_dir=data_dir,
                     n_valid=8, progress=False)
    scratch = load_file(str(fresh / "checkpoint" / "model.safetensors"))
    key = "roberta.encoder.layer.0.attention.self.query.weight"
    assert torch.allclose(got[key], start[key], atol=1e-6)
    assert not torch.allclose(scratch[key], start[key], atol=1e-3)
    assert (second / "tokenizer" / "tokenizer.json").read_text() == (
        first / "model" / "tokenizer.json").read_text()
    # the exported card of stage 2 tells both stages and how to reproduce them in order
    from molstrata.pretrain.export import export_smiles

    export_smiles(first, tmp_path / "ship1", name="tiny")
    third = tmp_path / "stage2b"
    train_smiles_mlm([small_corpus_dir], third, _cfg(steps=2, init_from=str(tmp_path / "ship1")),
                     data_dir=data_dir, n_valid=8, progress=False)
    facts = export_smiles(third, tmp_path / "ship2", name="tiny")
    card = (tmp_path / "ship2" / "MODEL_CARD.md").read_text()
    assert [p["step"] for p in facts["previous_stages"]] == [3]
    assert "warm start: stage 1 | 3 steps" in card and "all stages | 5 steps" in card
    assert "--out RUN1 --steps 3" in card and "--out RUN2 --steps 2" in card
    assert "--init-from RUN1/model" in card
    assert (tmp_path / "ship2" / "curves_stage1.png").is_file()
    # a run's own model/ folder carries the chain too, so it can seed the next stage directly
    own = json.loads((third / "model" / "training.json").read_text())
    assert [p["step"] for p in own["previous_stages"]] == [3] and own["step"] == 2
    fourth = tmp_path / "stage3"
    train_smiles_mlm([small_corpus_dir], fourth, _cfg(steps=1, init_from=str(third / "model")),
                     data_dir=data_dir, n_valid=8, progress=False)
    facts3 = export_smiles(fourth, tmp_path / "ship3", name="tiny")
    assert [p["step"] for p in facts3["previous_stages"]] == [3, 2]
    assert "--init-from RUN2/model" in (tmp_path / "ship3" / "MODEL_CARD.md").read_text()
    with pytest.raises(ConfigError, match="architecture differs.*num_hidden_layers"):
        train_smiles_mlm([small_corpus_dir], tmp_path / "bad", _cfg(steps=1, num_layers=3,
                         init_from=str(first / "model")), data_dir=data_dir, n_valid=8, progress=False)
    with pytest.raises(ConfigError, match="not an exported MLM folder"):
        train_smiles_mlm([small_corpus_dir], tmp_path / "bad2", _cfg(steps=1,
                         init_from=str(tmp_path / "nowhere")), data_dir=data_dir, n_valid=8, progress=False)


def test_exported_tokenizer_keeps_no_padding_or_truncation_from_training(small_corpus_dir, data_dir, tmp_path):
    """Training calls the tokenizer with padding and truncation; the saved one must not keep
    them (it would cut long SMILES silently when loaded by the HF adapter)."""
    train_smiles_mlm([small_corpus_dir], tmp_path / "r", _cfg(steps=1), data_dir=data_dir, n_valid=8,
                     progress=False)
    tok = json.loads((tmp_path / "r" / "model" / "tokenizer.json").read_text())
    assert tok["truncation"] is None and tok["padding"] is None
    cfg = json.loads((tmp_path / "r" / "model" / "tokenizer_config.json").read_text())
    assert "truncation_strategy" not in cfg and "max_length" not in cfg and "model_max_length" in cfg
