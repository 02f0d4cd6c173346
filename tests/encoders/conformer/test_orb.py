"""Orb v3 adapter on orb-models' own architecture functions with local random weights (the
published checkpoints are on a server this machine cannot reach)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from extras import installed_or_skip

installed_or_skip("orb_models", "this test")
installed_or_skip("ase", "this test")

from molstrata import load_encoder  # noqa: E402
from molstrata.core.errors import ConfigError, DataNotFoundError  # noqa: E402
from molstrata.encoders.conformer.orb import OrbEncoder, load_orb  # noqa: E402

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]
ARCH = dict(latent_dim=32, base_mlp_hidden_dim=64, head_mlp_hidden_dim=32)


@pytest.fixture(scope="module")
def direct_ckpt(tmp_path_factory):
    """A small random orb-v3-direct checkpoint saved as orb-models saves them (a state dict)."""
    enc = load_orb("direct-20-omat", random_init=True, seed=5, arch=ARCH, device="cpu")
    path = tmp_path_factory.mktemp("orb") / "orb-v3-direct-20-omat-20250404.ckpt"
    torch.save(enc.model.state_dict(), path)
    return path


def test_layers_shapes_determinism(direct_ckpt):
    enc = load_orb("direct-20-omat", path=direct_ckpt, arch=ARCH, device="cpu")
    assert isinstance(enc, OrbEncoder) and enc.num_layers == 5
    a, b = enc.embed(SMILES), enc.embed(SMILES)
    assert len(a) == 6 and a.dims == [32] * 6
    assert all(x.dtype == np.float32 and x.shape == (3, 32) for x in a)
    for k in range(6):
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.allclose(a[0], a[5])
    assert a.meta["conformer_methods"] == ["etkdg+mmff"] * 3


def test_last_layer_equals_orb_node_features(direct_ckpt):
    """Mean over atoms of the last layer == mean of orb's own MoleculeGNS node_features,
    computed one molecule at a time (no batching, no hooks)."""
    enc = load_orb("direct-20-omat", path=direct_ckpt, arch=ARCH, device="cpu")
    emb = enc.embed(SMILES, pooling="mean")
    summed = enc.embed(SMILES, pooling="sum")
    from rdkit import Chem

    from molstrata.data.smiles import parse_smiles

    for i, s in enumerate(parse_smiles(SMILES).canonical):
        graph = enc.graphs([s])
        with torch.no_grad():
            nodes = enc.model.model(graph)["node_features"].numpy()
        assert nodes.shape[0] == Chem.AddHs(Chem.MolFromSmiles(s)).GetNumAtoms()
        np.testing.assert_allclose(emb[5][i], nodes.mean(0), atol=1e-5)
        np.testing.assert_allclose(summed[5][i], nodes.sum(0), atol=1e-4)


def test_truncation_equals_full_prefix(direct_ckpt):
    full = load_orb("direct-20-omat", path=direct_ckpt, arch=ARCH, device="cpu")
    ref = full.embed(SMILES)
    for cut in (load_orb("direct-20-omat", path=direct_ckpt, arch=ARCH, device="cpu", max_layer=2),
                full.truncate(2)):
        assert cut.num_layers == 2 and len(cut.model.model.gnn_stacks) == 2
        out = cut.embed(SMILES)
        assert len(out) == 3
        for k in range(3):
            np.testing.assert_allclose(out[k], ref[k], atol=1e-5)
    with pytest.raises(ConfigError, match="max_layer"):
        load_orb("direct-20-omat", path=direct_ckpt, arch=ARCH, max_layer=6)


def test_conservative_and_wrong_checkpoint(direct_ckpt):
    cons = load_orb("conservative-inf-omat", random_init=True, arch=ARCH, device="cpu")
    assert type(cons.model).__name__ == "ConservativeForcefieldRegressor"
    assert len(cons.embed(SMILES[:2])) == 6
    with pytest.raises(ConfigError, match="weights missing"):
        load_orb("conservative-inf-omat", path=direct_ckpt, arch=ARCH)  # direct weights


def test_registry_card_and_missing_weights(direct_ckpt, monkeypatch):
    from molstrata.encoders.registry import get_card

    monkeypatch.delenv("ORB_WEIGHT_DIR", raising=False)
    for name in ("orb-v3-direct", "orb-v3-conservative"):
        card = get_card(name)
        assert card.kind == "3d" and card.num_layers == 5 and card.weights_present is False
        with pytest.raises(DataNotFoundError, match="ORB_WEIGHT_DIR"):
            load_encoder(name)
    monkeypatch.setenv("ORB_WEIGHT_DIR", str(direct_ckpt.parent))
    assert get_card("orb-v3-direct").weights_present is True
    enc = load_encoder("orb-v3-direct", arch=ARCH, device="cpu")
    assert enc.name == "orb-v3-direct-20-omat" and len(enc.embed(["CCO"])) == 6
