"""The built-in graph encoder builds its network only when it embeds (issue #22): a run whose
embeddings are all cached never imports torch_geometric, and its identity still comes from
the weights (#17): read from the file, equal to the built network's, checked again when built."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from molstrata.core.errors import ConfigError
from molstrata.encoders import builtin, load_encoder
from molstrata.encoders.graph.gin import GraphEncoder, load_gine

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O"]


def test_loading_the_default_does_not_import_torch_geometric():
    code = ("import sys; from molstrata.encoders import load_encoder; "
            "e = load_encoder('molstrata-graph', device='cpu'); e.identity(); "
            "print('torch_geometric' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("max_layer", [None, 3, 0])
def test_identity_read_from_the_file_is_the_built_networks(max_layer):
    lazy = load_encoder("molstrata-graph", device="cpu", max_layer=max_layer)
    net, _ = load_gine(builtin.weights_dir(builtin.GRAPH_NAME))
    built = GraphEncoder(net if max_layer is None else net.truncated(max_layer),
                         name=builtin.GRAPH_NAME, device="cpu")
    assert lazy.identity() == built.identity()
    got, want = lazy.embed(SMILES), built.embed(SMILES)
    assert len(got.layers) == len(want.layers)
    assert all(np.array_equal(a, b) for a, b in zip(got.layers, want.layers, strict=True))


def _weights_copy(tmp_path, monkeypatch):
    root = tmp_path / "weights"
    shutil.copytree(builtin.weights_dir(builtin.GRAPH_NAME), root / builtin.GRAPH_NAME)
    monkeypatch.setattr(builtin, "WEIGHTS_ROOT", root)
    return root / builtin.GRAPH_NAME / "model.safetensors"


def _other_weights(path):
    from safetensors.numpy import load_file, save_file

    arrays = load_file(str(path))
    arrays["input_proj.bias"] = arrays["input_proj.bias"] + np.float32(0.5)
    save_file(arrays, str(path))


def test_other_weights_give_another_identity(tmp_path, monkeypatch):
    path = _weights_copy(tmp_path, monkeypatch)
    before = load_encoder("molstrata-graph", device="cpu").identity()
    _other_weights(path)
    assert load_encoder("molstrata-graph", device="cpu").identity()["weights_sha"] != before["weights_sha"]


def test_weights_changed_between_load_and_use_are_refused(tmp_path, monkeypatch):
    path = _weights_copy(tmp_path, monkeypatch)
    enc = load_encoder("molstrata-graph", device="cpu")
    _other_weights(path)  # the identity already given (cache keys) no longer describes the file
    with pytest.raises(ConfigError, match="weights changed on disk"):
        enc.embed(SMILES)
