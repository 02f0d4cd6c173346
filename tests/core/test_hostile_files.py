"""Hostile files: every loader that reads a pickle or a torch checkpoint refuses one that would
run code, with one line naming the file and the reason, and the code never runs.

Each hostile file is built here, in the test, and carries a payload that would write a marker
file. Three kinds:

- ``legacy``: a legacy (non-zip) torch file whose first pickle calls ``builtins.exec``
  (torch reads it with its ``pickle_module.load`` before any check);
- ``zip-exec``: a zip torch file whose ``data.pkl`` names ``builtins.exec``;
- ``zip-dotted``: a zip torch file whose ``data.pkl`` uses protocol 4's dotted names,
  ``("torch.nn.modules.module", "inspect.attrgetter")``, to walk from an allowed module
  to ``eval``.

``test_the_hostile_files_are_real`` shows that the stock loader does run each payload.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from extras import import_or_skip, installed_or_skip

torch = import_or_skip("torch", "this test")

from molstrata.core.errors import ConfigError  # noqa: E402
from molstrata.encoders import load_encoder  # noqa: E402

KINDS = ("legacy", "zip-exec", "zip-dotted")


class _Exec:
    """Pickles as ``builtins.exec(code)``."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


def _s(text: str) -> bytes:
    raw = text.encode()
    return pickle.SHORT_BINUNICODE + bytes([len(raw)]) + raw


def dotted_chain(code: str, module: str = "torch.nn.modules.module") -> bytes:
    """A protocol-4 pickle that evaluates ``code`` through dotted names from ``module``:
    ``attrgetter("__init__.__globals__.get")(Module)("__builtins__")`` is the builtins dict,
    ``attrgetter("get")(that)("eval")(code)`` runs the code."""
    p = pickle
    getter = _s(module) + _s("inspect.attrgetter") + p.STACK_GLOBAL
    out = p.PROTO + b"\x04"
    out += getter + _s("__init__.__globals__.get") + p.TUPLE1 + p.REDUCE
    out += _s(module) + _s("Module") + p.STACK_GLOBAL + p.TUPLE1 + p.REDUCE
    out += _s("__builtins__") + p.TUPLE1 + p.REDUCE + p.MEMOIZE + p.POP
    out += getter + _s("get") + p.TUPLE1 + p.REDUCE + p.BINGET + b"\x00" + p.TUPLE1 + p.REDUCE
    out += _s("eval") + p.TUPLE1 + p.REDUCE + _s(code) + p.TUPLE1 + p.REDUCE + p.STOP
    return out


def _zip_with_data_pkl(path: Path, data_pkl: bytes) -> Path:
    """A zip-format torch file (as ``torch.save`` writes it) whose ``data.pkl`` is ``data_pkl``."""
    plain = path.with_name(path.name + ".plain")
    torch.save({"x": torch.zeros(2)}, plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = data_pkl if info.filename.endswith("/data.pkl") else src.read(info)
            dst.writestr(info.filename, data)
    plain.unlink()
    return path


class Hostile:
    """Builds hostile files whose payload writes ``marker``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.marker = folder / "PWNED"
        self.code = f"open({str(self.marker)!r}, 'w').write('pwned')"

    def pickle_bytes(self, kind: str) -> bytes:
        if kind == "zip-dotted":
            return dotted_chain(self.code)
        return pickle.dumps(_Exec(self.code), protocol=2)

    def torch_file(self, kind: str, name: str = "hostile.pt") -> Path:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "legacy":
            path.write_bytes(pickle.dumps(_Exec(self.code), protocol=2))
            return path
        return _zip_with_data_pkl(path, self.pickle_bytes(kind))

    def ran(self) -> bool:
        return self.marker.exists()


@pytest.fixture
def hostile(tmp_path) -> Hostile:
    return Hostile(tmp_path)


def _refused(exc: pytest.ExceptionInfo, path: Path, *why: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    assert str(path) in msg, msg
    for w in why:
        assert w in msg, msg


@pytest.mark.parametrize("kind", KINDS)
def test_the_hostile_files_are_real(hostile, kind):
    """The stock loader runs every payload: the files below are genuinely hostile."""
    path = hostile.torch_file(kind)
    try:
        torch.load(path, weights_only=False)
    except Exception:  # noqa: BLE001  (the payload runs before torch notices the junk)
        pass
    assert hostile.ran()


# ---------------------------------------------------------------------------- chemprop
def _needs_chemprop():
    installed_or_skip("chemprop", "this test")


def _tiny_chemprop_dict():
    from chemprop import nn as cnn
    from chemprop.models import MPNN

    torch.manual_seed(0)
    model = MPNN(cnn.BondMessagePassing(d_h=16, depth=2), cnn.MeanAggregation(),
                 cnn.RegressionFFN(input_dim=16, hidden_dim=8))
    return {"hyper_parameters": model.hparams, "state_dict": model.state_dict()}


@pytest.mark.parametrize("kind", KINDS)
def test_chemprop_refuses_hostile_checkpoints(hostile, kind):
    _needs_chemprop()
    path = hostile.torch_file(kind)
    with pytest.raises(ConfigError) as exc:
        load_encoder(f"chemprop:{path}", device="cpu")
    assert not hostile.ran()
    why = {
        "legacy": ("legacy (non-zip) torch file", "--trust-checkpoint"),
        "zip-exec": ("builtin", ".exec", "--trust-checkpoint"),
        "zip-dotted": ("torch.nn.modules.module.inspect.attrgetter", "--trust-checkpoint"),
    }[kind]
    _refused(exc, path, "chemprop checkpoint", *why)


def test_chemprop_refuses_a_payload_inside_a_legit_checkpoint(hostile):
    _needs_chemprop()
    d = _tiny_chemprop_dict()
    d["extra"] = _Exec(hostile.code)
    path = hostile.folder / "evil.pt"
    torch.save(d, path)
    with pytest.raises(ConfigError) as exc:
        load_encoder(f"chemprop:{path}", device="cpu")
    assert not hostile.ran()
    _refused(exc, path, ".exec", "trust_checkpoint=True")


def test_chemprop_refuses_torchscript_archives(hostile):
    _needs_chemprop()
    path = hostile.folder / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(ConfigError) as exc:
        load_encoder(f"chemprop:{path}", device="cpu")
    _refused(exc, path, "TorchScript archive", "--trust-checkpoint")


def test_chemprop_legacy_file_loads_only_when_trusted(tmp_path):
    _needs_chemprop()
    path = tmp_path / "legacy.pt"
    torch.save(_tiny_chemprop_dict(), path, _use_new_zipfile_serialization=False)
    with pytest.raises(ConfigError) as exc:
        load_encoder(f"chemprop:{path}", device="cpu")
    _refused(exc, path, "legacy (non-zip) torch file", "trust_checkpoint=True")
    enc = load_encoder(f"chemprop:{path}", device="cpu", trust_checkpoint=True)
    assert enc.num_layers == 3  # depth 2 + one FFN hidden layer
    assert enc.embed(["CCO", "c1ccccc1"])[2].shape == (2, 16)


def test_trust_remote_code_does_not_unpickle_checkpoints(hostile):
    _needs_chemprop()
    path = hostile.torch_file("legacy")
    with pytest.raises(ConfigError, match="legacy"):
        load_encoder(f"chemprop:{path}", device="cpu", trust_remote_code=True)
    assert not hostile.ran()


@pytest.mark.parametrize("group", ["regression", "classification"])
def test_every_admet_ai_checkpoint_loads_without_trust(group):
    _needs_chemprop()
    from molstrata.encoders.graph import chemprop as cp

    installed_or_skip("admet_ai", "admet-ai's checkpoints")
    for index in range(cp.ADMET_AI_MODELS):
        d = cp.load_checkpoint_dict(cp.admet_ai_checkpoint(group, index))
        model = cp.build_mpnn(d, source=f"admet-ai {group}/{index}")
        assert model.message_passing.depth == 3
    enc = load_encoder("admet-ai", device="cpu", group=group, index=4)
    assert enc.embed(["CCO"])[3].shape == (1, 300)


def test_cli_embed_refuses_a_hostile_checkpoint_in_one_line(hostile):
    _needs_chemprop()
    path = hostile.torch_file("legacy")
    csv = hostile.folder / "in.csv"
    csv.write_text("smiles\nCCO\n")
    out = hostile.folder / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "molstrata.cli", "embed", "--encoder", f"chemprop:{path}",
         "--input", str(csv), "--out", str(out), "--no-cache", "--device", "cpu"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "1000"},
    )
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "legacy (non-zip) torch file" in lines[0], proc.stderr
    assert "--trust-checkpoint" in lines[0]
    assert not hostile.ran()


# ---------------------------------------------------------------------------- annalog
@pytest.mark.parametrize("kind", ["zip-exec", "zip-dotted"])
def test_annalog_vocabulary_refuses_globals(hostile, kind):
    from molstrata.encoders.smiles import annalog as an

    path = hostile.folder / "vocab.pkl"
    path.write_bytes(hostile.pickle_bytes(kind))
    with pytest.raises(ConfigError) as exc:
        an.load_vocab(path)
    assert not hostile.ran()
    _refused(exc, path, "ANNalog vocabulary", "Python global")


@pytest.mark.parametrize("kind", KINDS)
def test_annalog_checkpoint_refuses_hostile_files(hostile, kind, monkeypatch):
    from molstrata.encoders.smiles import annalog as an

    vocab = hostile.folder / "vocab.pkl"
    specials = list(an.SPECIALS)
    vocab.write_bytes(pickle.dumps({"itos": specials, "stoi": {t: i for i, t in enumerate(specials)}}))
    path = hostile.torch_file(kind, name="Lev_extended.pt")
    monkeypatch.setattr(an, "annalog_files", lambda: (path, vocab))
    with pytest.raises(ConfigError) as exc:
        load_encoder("annalog", device="cpu")
    assert not hostile.ran()
    _refused(exc, path, "ANNalog checkpoint")


# ---------------------------------------------------------------------------- Uni-Mol
@pytest.mark.parametrize("kind", KINDS)
def test_unimol_refuses_hostile_checkpoints(hostile, kind):
    installed_or_skip("unimol_tools", "this test")
    path = hostile.torch_file(kind)
    (hostile.folder / "mol.dict.txt").write_text("[PAD]\n[CLS]\n[SEP]\n[UNK]\nC\nO\n")
    with pytest.raises(ConfigError) as exc:
        load_encoder("unimol-v1", path=path, dict_path=hostile.folder / "mol.dict.txt",
                     device="cpu")
    assert not hostile.ran()
    _refused(exc, path, "Uni-Mol checkpoint", "trust_checkpoint=True")


# ---------------------------------------------------------------------------- MiniMol
@pytest.mark.parametrize("kind", KINDS)
def test_minimol_refuses_hostile_checkpoints(hostile, kind):
    installed_or_skip("torch_geometric", "this test")
    from molstrata.encoders.graph.minimol import find_weights

    installed_or_skip("minimol", "MiniMol's weights")
    package, _ = find_weights(None, download=False)
    folder = hostile.folder / "minimol"
    path = hostile.torch_file(kind, name="minimol/state_dict.pth")
    shutil.copy(package / "config.yaml", folder / "config.yaml")
    with pytest.raises(ConfigError) as exc, pytest.warns(UserWarning, match="not the MiniMol"):
        load_encoder("minimol", weights_dir=folder, device="cpu")
    assert not hostile.ran()
    _refused(exc, path, "MiniMol checkpoint")


# ---------------------------------------------------------------------------- Orb
@pytest.mark.parametrize("kind", KINDS)
def test_orb_refuses_hostile_checkpoints(hostile, kind):
    installed_or_skip("orb_models", "this test")
    path = hostile.torch_file(kind, name="orb.ckpt")
    arch = dict(latent_dim=32, base_mlp_hidden_dim=64, head_mlp_hidden_dim=32)
    with pytest.raises(ConfigError) as exc:
        load_encoder("orb-v3-direct", path=path, arch=arch, device="cpu")
    assert not hostile.ran()
    _refused(exc, path, "Orb checkpoint")


# ---------------------------------------------------------------------------- Pos-EGNN
@pytest.mark.parametrize("kind", KINDS)
def test_posegnn_refuses_hostile_checkpoints(hostile, kind):
    path = hostile.torch_file(kind, name="pos-egnn.v1-6M.ckpt")
    with pytest.raises(ConfigError) as exc:
        load_encoder("pos-egnn", checkpoint=path, device="cpu")
    assert not hostile.ran()
    _refused(exc, path, "Pos-EGNN checkpoint")


def test_posegnn_refuses_a_payload_inside_its_published_format(hostile):
    """The published layout ({"config", "state_dict"}) with one pickled object in the config."""
    path = hostile.folder / "pos-egnn.v1-6M.ckpt"
    torch.save({"config": {"encoder": {"hidden_channels": 8}, "hook": _Exec(hostile.code)},
                "state_dict": {"encoder.embedding.weight": torch.zeros(4, 8)}}, path)
    with pytest.raises(ConfigError) as exc:
        load_encoder("pos-egnn", checkpoint=path, device="cpu")
    assert not hostile.ran()
    _refused(exc, path, "Pos-EGNN checkpoint", "global exec")


# ---------------------------------------------------------------------------- finetune
@pytest.mark.parametrize("kind", KINDS)
def test_finetune_checkpoint_refuses_hostile_files(hostile, kind):
    from molstrata.finetune.train import load_checkpoint

    path = hostile.torch_file(kind, name="epoch.pt")
    with pytest.raises(ConfigError) as exc:
        load_checkpoint(path)
    assert not hostile.ran()
    _refused(exc, path, "finetune checkpoint")


# ---------------------------------------------------------------------------- pretrain
@pytest.mark.parametrize("kind", KINDS)
def test_pretrain_resume_and_export_refuse_hostile_files(hostile, kind):
    from molstrata.pretrain import _loop
    from molstrata.pretrain.export import run_facts

    run = hostile.folder / "run"
    path = hostile.torch_file(kind, name=f"run/{_loop.CKPT_DIR}/trainer_state.pt")
    with pytest.raises(ConfigError) as exc:
        _loop.load_checkpoint(run, {}, None, None)
    _refused(exc, path, "pretraining checkpoint")
    (run / "run_config.json").write_text("{}")
    with pytest.raises(ConfigError) as exc:
        run_facts(run)
    _refused(exc, path, "pretraining checkpoint")
    assert not hostile.ran()


# ---------------------------------------------------------------------------- npz caches
def _object_npz(path: Path, hostile: Hostile, **plain) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez(fh, **plain, valid_score=np.array([_Exec(hostile.code)], dtype=object))
    return path


def test_probe_cell_with_a_pickled_object_is_recomputed_not_unpickled(hostile):
    from molstrata.runs.probe import _read_cell

    path = _object_npz(hostile.folder / "cells" / "layer003.npz", hostile,
                       param=np.float64(1.0), test_pred=np.zeros(3))
    assert _read_cell(path, 3) is None  # unreadable: recomputed
    assert not hostile.ran()


def test_embedding_folder_with_a_pickled_layer_is_refused_not_unpickled(hostile):
    from molstrata.embeddings import read_embeddings
    from molstrata.embeddings.io import write_embeddings

    emb = load_encoder("molstrata-graph").embed(["CCO", "c1ccccc1"])
    folder = hostile.folder / "emb"
    write_embeddings(emb, folder)
    layer = folder / "layer_001.npy"
    np.save(layer, np.array([_Exec(hostile.code)], dtype=object), allow_pickle=True)
    with pytest.raises(ConfigError) as exc:
        read_embeddings(folder, mmap=False)
    assert str(layer) in str(exc.value) and "\n" not in str(exc.value)
    assert not hostile.ran()


def test_selection_cache_with_a_pickled_object_is_recomputed_not_unpickled(hostile):
    from molstrata.probe.strategies import CACHE_VERSION, _load

    path = _object_npz(hostile.folder / "sel.npz", hostile, version=np.int64(CACHE_VERSION))
    assert _load(path) is None
    assert not hostile.ran()


# ---------------------------------------------------------------------------- safeload
ALLOW = (("collections", "OrderedDict"), ("torch.nn.modules.module", "Module"))


def _unpickle(data: bytes, allow=ALLOW):
    import io

    from molstrata.core.safeload import RestrictedUnpickler

    cls = type("U", (RestrictedUnpickler,), {"allowed": frozenset(allow)})
    return cls(io.BytesIO(data)).load()


def test_restricted_unpickler_checks_exact_pairs_without_dotted_walks(hostile):
    import collections

    from molstrata.core.safeload import UntrustedGlobalError, load_pickle_restricted

    assert _unpickle(pickle.dumps(collections.OrderedDict(a=1), protocol=4)) == {"a": 1}
    with pytest.raises(UntrustedGlobalError, match="inspect.attrgetter"):
        _unpickle(dotted_chain(hostile.code))
    # an allowed module's class via a dotted name is refused too, even when it resolves
    with pytest.raises(UntrustedGlobalError, match="modules.module.Module"):
        _unpickle(pickle.PROTO + b"\x04" + _s("torch.nn") + _s("modules.module.Module")
                  + pickle.STACK_GLOBAL + pickle.STOP)
    with pytest.raises(ValueError, match="dots"):
        load_pickle_restricted(hostile.folder / "x", allow=[("torch.nn", "modules.Module")])
    assert not hostile.ran()


class _Box:
    pass


def test_restricted_unpickler_refuses_state_on_objects_outside_the_list(tmp_path):
    import collections

    from molstrata.core.safeload import UntrustedGlobalError

    od = collections.OrderedDict(a=1)
    od.__dict__["evil"] = 1  # OrderedDict pickles its __dict__ as BUILD state
    data = pickle.dumps(od, protocol=2)
    allow = (("collections", "OrderedDict"),)
    assert _unpickle(data, allow).evil == 1  # state on an allowlisted class: fine
    # BUILD on an object whose class is not on the list (here: a plain dict) is refused
    raw = pickle.PROTO + b"\x02" + pickle.EMPTY_DICT + pickle.EMPTY_DICT + pickle.BUILD + pickle.STOP
    with pytest.raises(UntrustedGlobalError, match="state of a builtins.dict"):
        _unpickle(raw, allow)


@pytest.mark.parametrize("kind", KINDS)
def test_safeload_helpers_refuse_every_kind(hostile, kind):
    from molstrata.core.safeload import load_tensors, load_torch_restricted

    path = hostile.torch_file(kind)
    for call in (
        lambda: load_tensors(path, what="test file"),
        lambda: load_torch_restricted(path, allow=ALLOW, what="test file", opt_in="--trust"),
    ):
        with pytest.raises(ConfigError) as exc:
            call()
        _refused(exc, path, "test file")
    assert not hostile.ran()


@pytest.mark.parametrize("kind", KINDS)
def test_saved_predictor_weights_that_are_pickles_are_refused_not_unpickled(hostile, kind):
    """A predictor (``molstrata predict --model``) whose weights file is a pickle or torch
    file, with a tuned head's description: one line naming the file, nothing run; the sweep's
    kept probe (``cells/.../fitted_*``) of the same bytes is refitted, not read."""
    from molstrata.core.safeload import UntrustedFileError
    from molstrata.runs.predictors import PREDICTOR_FILE, WEIGHTS_FILE, _read_fitted, read_predictor

    folder = hostile.folder / "models" / "caco2_wang" / "seed1"
    folder.mkdir(parents=True)
    meta = {"kind": "mlp-tuned", "task_type": "regression", "n_inputs": 1,
            "inputs": [{"config": 0, "hidden": 4, "depth": 1, "dropout": 0.0, "y_scale": [[0.0, 1.0]]}]}
    (folder / PREDICTOR_FILE).write_text(json.dumps({"format": 2, "probe": meta}))
    weights = hostile.torch_file(kind, name=f"models/caco2_wang/seed1/{WEIGHTS_FILE}")
    with pytest.raises(UntrustedFileError) as exc:
        read_predictor(folder)
    _refused(exc, weights, "never unpickles")
    (folder / "fitted_000_000_1.json").write_text(json.dumps(meta))
    shutil.copy(weights, folder / "fitted_000_000_1.safetensors")
    assert _read_fitted(folder, [0]) is None
    assert not hostile.ran()
