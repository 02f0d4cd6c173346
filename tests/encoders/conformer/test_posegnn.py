"""Pos-EGNN: molstrata's own torch implementation against IBM's code, layer by layer.

``tests/fixtures/posegnn`` holds two small random configurations of IBM's architecture
(``tiny``: GotenNet's default options; ``tiny_options``: every optional part switched on), saved
in the published checkpoint format, 20 molecules with fixed conformers, and the per-atom node
states IBM's code gave for the node embedding and each of the 4 blocks. They were made by
``tools/posegnn_reference.py`` with IBM's code (commit dc01519) outside the project.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from molstrata import load_encoder
from molstrata.core.errors import ConfigError, DataNotFoundError
from molstrata.data.conformers import Conformer
from molstrata.encoders.conformer.posegnn import (
    PosEGNNEncoder,
    config_from,
    load_weights,
    posegnn_card,
    read_checkpoint,
)
from molstrata.encoders.conformer.posegnn_net import PosEGNNConfig, PosEGNNNet
from molstrata.encoders.registry import get_card

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "posegnn"
VARIANTS = ("tiny", "tiny_options")
TOL = 1e-5


@pytest.fixture(scope="module")
def molecules() -> dict[str, np.ndarray]:
    with np.load(FIXTURE / "molecules.npz") as f:
        return {k: f[k] for k in f.files}


def reference(variant: str) -> list[np.ndarray]:
    with np.load(FIXTURE / f"{variant}_layers.npz") as f:
        return [f[f"layer_{k}"] for k in range(len(f.files))]


def net_for(variant: str) -> PosEGNNNet:
    encoder, weights = read_checkpoint(FIXTURE / f"{variant}.ckpt")
    net = PosEGNNNet(config_from(encoder, weights, source=variant)).eval()
    load_weights(net, weights, source=variant)
    return net


def run(net: PosEGNNNet, mol: dict[str, np.ndarray]) -> list[np.ndarray]:
    with torch.no_grad():
        out = net(torch.as_tensor(mol["atomic_numbers"]), torch.as_tensor(mol["coords"]),
                  mol["counts"].tolist())
    return [o.numpy() for o in out]


def with_fixture_conformers(enc: PosEGNNEncoder, mol: dict[str, np.ndarray]) -> list[str]:
    """Give ``enc`` the fixture's conformers (so RDKit's version cannot move the atoms)."""
    start = 0
    for s, n in zip(mol["smiles"].tolist(), mol["counts"].tolist(), strict=True):
        enc._conformers[s] = Conformer(s, mol["atomic_numbers"][start:start + n],
                                       mol["coords"][start:start + n], "etkdg+mmff")
        start += n
    return mol["smiles"].tolist()


def means(per_atom: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return np.stack([part.mean(0) for part in np.split(per_atom, np.cumsum(counts)[:-1])])


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_layer_matches_ibm_code_per_atom(variant, molecules):
    ref = reference(variant)
    got = run(net_for(variant), molecules)
    assert len(got) == len(ref) == 5
    for k, (a, b) in enumerate(zip(got, ref, strict=True)):
        assert a.shape == b.shape == (int(molecules["counts"].sum()), 8)
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL, err_msg=f"layer {k}")


@pytest.mark.parametrize("skip", [0, 1, 2])
def test_a_skipped_block_is_caught(skip, molecules):
    """The comparison is sharp: dropping one block moves every later layer by far more than 1e-5."""
    net = net_for("tiny")
    net.blocks = torch.nn.ModuleList([b for k, b in enumerate(net.blocks) if k != skip])
    got, ref = run(net, molecules), reference("tiny")
    for k in range(skip + 1, len(got)):
        assert np.abs(got[k] - ref[k]).max() > 100 * TOL, f"layer {k}"


def test_load_encoder_on_the_published_format_pools_ibm_states(molecules):
    enc = load_encoder("pos-egnn", checkpoint=FIXTURE / "tiny.ckpt", device="cpu")
    assert isinstance(enc, PosEGNNEncoder) and enc.num_layers == 4
    smiles = with_fixture_conformers(enc, molecules)
    ref = reference("tiny")
    mean, total = enc.embed(smiles, pooling="mean"), enc.embed(smiles, pooling="sum")
    assert len(mean) == 5 and mean.dims == [8] * 5
    for k in range(5):
        assert mean[k].dtype == np.float32
        np.testing.assert_allclose(mean[k], means(ref[k], molecules["counts"]), rtol=0, atol=TOL)
        sums = np.stack([p.sum(0) for p in np.split(ref[k], np.cumsum(molecules["counts"])[:-1])])
        np.testing.assert_allclose(total[k], sums, rtol=0, atol=1e-4)


def test_max_layer_builds_only_the_first_blocks(molecules):
    full = load_encoder("pos-egnn", checkpoint=FIXTURE / "tiny.ckpt", device="cpu")
    cut = load_encoder("pos-egnn", checkpoint=FIXTURE / "tiny.ckpt", device="cpu", max_layer=2)
    assert cut.num_layers == 2 and len(cut.model.blocks) == 2 and cut.full_num_layers == 4
    smiles = with_fixture_conformers(full, molecules)
    with_fixture_conformers(cut, molecules)
    a, b = full.embed(smiles), cut.embed(smiles)
    assert len(b) == 3
    for k in range(3):
        assert a[k].tobytes() == b[k].tobytes()
    trunc = full.truncate(1)
    assert trunc.num_layers == 1 and trunc.embed(smiles)[1].tobytes() == a[1].tobytes()
    with pytest.raises(ConfigError, match="max_layer=5"):
        load_encoder("pos-egnn", checkpoint=FIXTURE / "tiny.ckpt", device="cpu", max_layer=5)


def test_without_a_config_the_sizes_come_from_the_weights_and_the_rest_from_the_card(tmp_path):
    """A checkpoint with only a state dict: hidden size, depth, radial size and atom types from
    the shapes; the other settings are the defaults, i.e. the card's published-model values."""
    blob = torch.load(FIXTURE / "tiny.ckpt", weights_only=True)
    torch.save({"state_dict": blob["state_dict"]}, tmp_path / "bare.ckpt")
    enc = load_encoder("pos-egnn", checkpoint=tmp_path / "bare.ckpt", device="cpu")
    cfg, defaults = enc.model.cfg, PosEGNNConfig()
    assert (cfg.hidden_channels, cfg.num_layers, cfg.n_rbf) == (8, 4, 8)
    assert cfg.cutoff == defaults.cutoff != blob["config"]["encoder"]["cutoff"]
    assert cfg.num_heads == defaults.num_heads
    card = posegnn_card()
    assert card.num_layers == defaults.num_layers == 4
    assert card.dims == [defaults.hidden_channels] * 5 == [256] * 5


def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="shapes differ"):
        load_encoder("pos-egnn", checkpoint=FIXTURE / "tiny.ckpt", arch={"n_rbf": 5}, device="cpu")
    blob = torch.load(FIXTURE / "tiny.ckpt", weights_only=True)
    state = copy.copy(blob["state_dict"])
    del state["encoder.gata.1.q_w.weight"]
    torch.save({"config": blob["config"], "state_dict": state}, tmp_path / "cut.ckpt")
    with pytest.raises(ConfigError, match="gata.1.q_w.weight"):
        load_encoder("pos-egnn", checkpoint=tmp_path / "cut.ckpt", device="cpu")
    bad = dict(blob["config"], encoder=dict(blob["config"]["encoder"], radial_basis="expnorm"))
    torch.save({"config": bad, "state_dict": blob["state_dict"]}, tmp_path / "exp.ckpt")
    with pytest.raises(ConfigError, match="radial_basis"):
        load_encoder("pos-egnn", checkpoint=tmp_path / "exp.ckpt", device="cpu")


def test_no_checkpoint_names_the_variable(monkeypatch):
    monkeypatch.delenv("POSEGNN_WEIGHT_DIR", raising=False)
    with pytest.raises(DataNotFoundError, match="POSEGNN_WEIGHT_DIR"):
        load_encoder("pos-egnn", device="cpu")


def test_random_init_builds_the_configuration():
    enc = load_encoder("pos-egnn", random_init=True, seed=1, device="cpu",
                       arch={"hidden_channels": 16, "num_heads": 4, "n_rbf": 6})
    emb = enc.embed(["CCO", "c1ccccc1O"])
    assert len(emb) == 5 and emb.dims == [16] * 5 and np.isfinite(emb[4]).all()


def test_card_says_what_is_verified_and_what_is_not(monkeypatch, tmp_path):
    monkeypatch.setenv("POSEGNN_WEIGHT_DIR", str(tmp_path))
    card = get_card("pos-egnn")
    assert card.kind == "3d" and card.num_layers == 4 and card.weights_present is False
    assert "layer by layer" in card.verified and "IBM" in card.verified
    assert "NOT verified" in card.verified and "pos-egnn.v1-6M.ckpt" in card.verified
    (tmp_path / "pos-egnn.v1-6M.ckpt").write_bytes(b"")
    assert get_card("pos-egnn").weights_present is True


def test_cli_lists_every_adapter(monkeypatch, tmp_path):
    import json

    from typer.testing import CliRunner

    from molstrata.cli import app

    for var in ("UNIMOL_WEIGHT_DIR", "ORB_WEIGHT_DIR", "POSEGNN_WEIGHT_DIR"):
        monkeypatch.setenv(var, str(tmp_path))  # empty folders: no weights
    result = CliRunner().invoke(app, ["encoders", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    for name in ("pos-egnn", "unimol-v1", "orb-v3-direct", "orb-v3-conservative", "chemgpt-4.7m",
                 "molformer-xl", "chemberta-77m-mlm", "chemberta-zinc-base", "unimol2-84m"):
        assert rows[name]["status"] == "ok", rows[name]
        assert isinstance(rows[name]["weights_present"], bool)
    for name in ("pos-egnn", "unimol-v1", "orb-v3-direct", "orb-v3-conservative", "unimol2-84m"):
        assert rows[name]["weights_present"] is False


@pytest.mark.parametrize(
    ("name", "module"), [("unimol-v1", "unimol_tools"), ("unimol2-84m", "unimol_tools"),
                         ("orb-v3-direct", "orb_models")],
)
def test_missing_3d_packages_give_the_install_line(name, module, monkeypatch):
    import sys

    from molstrata.core.errors import OptionalDependencyError

    for mod in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(OptionalDependencyError, match="--no-deps"):
        load_encoder(name, random_init=True, device="cpu")
