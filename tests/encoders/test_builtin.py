"""Built-in encoders: load offline through load_encoder, all layers, seeded random_init twins.

The first tests use tiny models trained in the test and placed where the package looks for
weights (so they check the loading code, not the shipped numbers); the last ones load the
weights shipped in the package.
"""

from __future__ import annotations

import numpy as np
import pytest

from molstrata.core.errors import DataNotFoundError
from molstrata.encoders import builtin, load_encoder
from molstrata.encoders.registry import get_card

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "Cl/C=C/Br"]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory, data_dir, small_corpus_dir_for_builtin):
    from molstrata.pretrain.graph import GraphPretrainConfig, train_graph
    from molstrata.pretrain.smiles_mlm import SmilesMLMConfig, train_smiles_mlm

    root = tmp_path_factory.mktemp("weights")
    run = tmp_path_factory.mktemp("runs")
    train_smiles_mlm([small_corpus_dir_for_builtin], run / "s", SmilesMLMConfig(
        steps=1, batch_size=4, num_layers=2, hidden_size=16, num_heads=2, intermediate_size=32,
        max_length=64, n_eval=4, threads=1), progress=False)
    train_graph([small_corpus_dir_for_builtin], run / "g", GraphPretrainConfig(
        steps=1, batch_size=4, num_layers=2, hidden=16, stats_molecules=8, n_eval=4, threads=1),
        progress=False)
    from molstrata.pretrain.export import export_graph, export_smiles

    export_smiles(run / "s", root / builtin.SMILES_NAME)
    export_graph(run / "g", root / builtin.GRAPH_NAME)
    return root


@pytest.fixture(scope="module")
def small_corpus_dir_for_builtin(tmp_path_factory, data_dir):
    from molstrata.pretrain.corpus import build_corpus

    path = data_dir / "unlabeled_smiles" / "chembl31_ozcelik_via_chem_xlstm" / "valid.txt"
    src = tmp_path_factory.mktemp("src") / "s.txt"
    src.write_text("\n".join(path.read_text().splitlines()[:40]) + "\n")
    out = tmp_path_factory.mktemp("corpus")
    build_corpus([src], out, data_dir=data_dir, n_valid=4, progress=False)
    return out


@pytest.mark.parametrize("name,n_layers", [("molstrata-smiles", 2), ("molstrata-graph", 2)])
def test_tiny_builtin_loads_offline_with_all_layers(tiny_weights, monkeypatch, name, n_layers):
    monkeypatch.setattr(builtin, "WEIGHTS_ROOT", tiny_weights)
    enc = load_encoder(name, device="cpu")
    assert enc.name == name and enc.num_layers == n_layers
    emb = enc.embed(SMILES)
    assert len(emb.layers) == n_layers + 1
    assert all(a.shape == (len(SMILES), 16) and np.isfinite(a).all() for a in emb.layers)
    card = get_card(name)
    assert card.weights_present and card.num_layers == n_layers
    text = (tiny_weights / name / "MODEL_CARD.md").read_text()
    assert "TDC ADMET test molecules removed" in text and "steps | 1 of 1" in text
    assert (tiny_weights / name / "curves.png").stat().st_size > 1000


@pytest.mark.parametrize("name", ["molstrata-smiles", "molstrata-graph"])
def test_random_init_differs_and_is_seeded(tiny_weights, monkeypatch, name):
    monkeypatch.setattr(builtin, "WEIGHTS_ROOT", tiny_weights)
    trained = load_encoder(name, device="cpu").embed(SMILES).layers[-1]
    r0 = load_encoder(name, device="cpu", random_init=True, seed=0).embed(SMILES).layers[-1]
    r0b = load_encoder(name, device="cpu", random_init=True, seed=0).embed(SMILES).layers[-1]
    r1 = load_encoder(name, device="cpu", random_init=True, seed=1).embed(SMILES).layers[-1]
    np.testing.assert_array_equal(r0, r0b)
    assert not np.allclose(r0, trained)
    assert not np.allclose(r0, r1)


def test_missing_weights_error_says_how_to_make_them(tmp_path, monkeypatch):
    monkeypatch.setattr(builtin, "WEIGHTS_ROOT", tmp_path)
    for name, recipe in (("molstrata-smiles", "smiles"), ("molstrata-graph", "graph")):
        with pytest.raises(DataNotFoundError, match=f"molstrata pretrain {recipe}"):
            load_encoder(name)
        assert get_card(name).weights_present is False


def test_default_alias_and_max_layer(tiny_weights, monkeypatch):
    monkeypatch.setattr(builtin, "WEIGHTS_ROOT", tiny_weights)
    assert load_encoder("default", device="cpu").name in ("molstrata-smiles", "molstrata-graph")
    assert len(load_encoder("molstrata-graph", device="cpu", max_layer=1).embed(SMILES).layers) == 2


# ------------------------------------------------------------------ the shipped weights
@pytest.mark.parametrize("name,n_layers", [("molstrata-smiles", 6), ("molstrata-graph", 5)])
def test_shipped_weights_load_offline(name, n_layers):
    card = get_card(name)
    assert card.weights_present, f"{name}: shipped weights missing from {builtin.weights_dir(name)}"
    enc = load_encoder(name, device="cpu")
    emb = enc.embed(SMILES)
    assert enc.num_layers == n_layers and len(emb.layers) == n_layers + 1
    assert all(a.shape == (len(SMILES), 256) and np.isfinite(a).all() for a in emb.layers)
    assert card.trained_on and "removing" in card.trained_on


def test_shipped_smiles_folder_is_plain_hf():
    from transformers import AutoModel, AutoTokenizer

    folder = builtin.weights_dir("molstrata-smiles")
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder))
    out = model(**tok(["c1ccccc1Cl"], return_tensors="pt"), output_hidden_states=True)
    assert len(out.hidden_states) == 7
    assert tok.convert_ids_to_tokens(tok("c1ccccc1Cl")["input_ids"])[-2] == "Cl"


def test_smiles_identity_is_stable_across_loads():
    """The MLM checkpoint has no pooler; the fresh pooler must not make the hash (and so
    the cache key and the resume identity) change from one load to the next."""
    a = load_encoder("molstrata-smiles").identity()
    b = load_encoder("molstrata-smiles").identity()
    assert a["weights_sha256"] == b["weights_sha256"]
