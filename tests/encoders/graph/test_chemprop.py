"""chemprop v2 checkpoints as per-depth encoders: every layer against chemprop's own code.

Independent references: chemprop's ``MPNN.fingerprint`` run with ``message_passing.depth``
set to k (its own loop stops after k hops), ``MPNN.encoding(i)`` for the FFN layers, and a
NumPy hand computation of layer 0. Tiny random checkpoints are built per session with
chemprop's ``save_model``; the admet-ai tests run when the admet-ai wheel is installed.
"""

from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pytest

from extras import import_or_skip, installed_or_skip

torch = import_or_skip("torch", "this test")
installed_or_skip("chemprop", "this test")

from chemprop import nn as cnn  # noqa: E402
from chemprop.data import MoleculeDatapoint, MoleculeDataset, build_dataloader  # noqa: E402
from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer  # noqa: E402
from chemprop.models import MPNN, load_model  # noqa: E402
from chemprop.models.utils import save_model  # noqa: E402

from molstrata.core.errors import (  # noqa: E402
    ConfigError,
    DataNotFoundError,
    InvalidSmilesError,
    OptionalDependencyError,
)
from molstrata.data.smiles import parse_smiles  # noqa: E402
from molstrata.encoders import get_card, load_encoder  # noqa: E402
from molstrata.encoders.graph import chemprop as cp  # noqa: E402

SMILES = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "C",  # one atom, no bonds
    "[Na+].[Cl-]",  # two fragments, no bonds
    "FC(F)(F)c1ccc(cc1)N1CCN(CC1)C(=O)C1CC1",
    "O=C(O)C[C@H](N)C(=O)O",
]
TOL = 1e-5


def _tiny_model(kind: str) -> MPNN:
    torch.manual_seed(0)
    if kind == "bond-mean-bn":
        mp = cnn.BondMessagePassing(d_h=32, depth=3)
        agg = cnn.MeanAggregation()
        pred = cnn.RegressionFFN(n_tasks=2, input_dim=32, hidden_dim=16, n_layers=2)
        model = MPNN(mp, agg, pred, batch_norm=True)
        with torch.no_grad():  # non-trivial batch-norm statistics
            model.bn.running_mean.uniform_(-0.5, 0.5)
            model.bn.running_var.uniform_(0.5, 2.0)
            model.bn.weight.uniform_(0.5, 1.5)
            model.bn.bias.uniform_(-0.2, 0.2)
    elif kind == "atom-norm":
        mp = cnn.AtomMessagePassing(d_h=24, depth=2)
        agg = cnn.NormAggregation()
        pred = cnn.BinaryClassificationFFN(n_tasks=3, input_dim=24, hidden_dim=8, n_layers=1)
        model = MPNN(mp, agg, pred)
    else:
        raise ValueError(kind)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_ckpts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chemprop")
    paths = {}
    for kind in ("bond-mean-bn", "atom-norm"):
        paths[kind] = folder / f"{kind}.pt"
        save_model(paths[kind], _tiny_model(kind))
    return paths


def _reference_bmg(smiles):
    """chemprop's own data path, on the same (canonical) strings molstrata feeds."""
    canon = list(parse_smiles(smiles).canonical)
    ds = MoleculeDataset([MoleculeDatapoint.from_smi(s) for s in canon])
    batch = next(iter(build_dataloader(ds, batch_size=len(canon), shuffle=False)))
    return batch.bmg


def _chemprop_layers(model: MPNN, smiles) -> list[np.ndarray]:
    """Layers 1..depth from chemprop's forward at depth k, then encoding(i) for i >= 1."""
    bmg = _reference_bmg(smiles)
    depth = model.message_passing.depth
    out = []
    with torch.no_grad():
        for k in range(1, depth + 1):
            m = copy.deepcopy(model)
            m.message_passing.depth = k
            out.append(m.fingerprint(copy.deepcopy(bmg)).numpy())
        for i in range(1, len(model.predictor.ffn)):
            out.append(model.encoding(copy.deepcopy(bmg), i=i).numpy())
    return out


@pytest.mark.parametrize("kind", ["bond-mean-bn", "atom-norm"])
def test_every_depth_and_ffn_layer_matches_chemprop(tiny_ckpts, kind):
    model = load_model(tiny_ckpts[kind]).eval()  # chemprop's own loader
    enc = load_encoder(f"chemprop:{tiny_ckpts[kind]}", device="cpu")
    depth = model.message_passing.depth
    n_ffn = len(model.predictor.ffn) - 1
    assert enc.num_layers == depth + n_ffn
    e = enc.embed(SMILES)
    assert len(e) == depth + n_ffn + 1
    ref = _chemprop_layers(model, SMILES)
    for k in range(1, len(e)):
        diff = np.abs(e[k] - ref[k - 1]).max()
        assert diff < TOL, f"layer {k}: max abs diff {diff}"
    with torch.no_grad():  # the final depth is chemprop's fingerprint = encoding(0)
        fp = model.encoding(_reference_bmg(SMILES), i=0).numpy()
    assert np.abs(e[depth] - fp).max() < TOL
    assert e.dims == [model.message_passing.output_dim] * (depth + 1) + [
        model.predictor.ffn[i][-1].out_features for i in range(n_ffn)
    ]


def test_layer0_is_the_readout_of_atoms_without_messages(tiny_ckpts):
    """Hand formula: mean over atoms of relu(W_o [x_v || 0] + b), then eval batch norm."""
    model = load_model(tiny_ckpts["bond-mean-bn"]).eval()
    enc = load_encoder(f"chemprop:{tiny_ckpts['bond-mean-bn']}", device="cpu")
    e = enc.embed(SMILES)
    feat = SimpleMoleculeMolGraphFeaturizer()
    W = model.message_passing.W_o.weight.detach().numpy()
    b = model.message_passing.W_o.bias.detach().numpy()
    bn = model.bn
    rm, rv = bn.running_mean.numpy(), bn.running_var.numpy()
    g, beta = bn.weight.detach().numpy(), bn.bias.detach().numpy()
    for i, s in enumerate(parse_smiles(SMILES).canonical):
        V = feat(MoleculeDatapoint.from_smi(s).mol).V  # n_atoms, d_v
        X = np.concatenate([V, np.zeros((len(V), W.shape[1] - V.shape[1]))], axis=1)
        h = np.maximum(X @ W.T + b, 0).mean(axis=0)
        expected = (h - rm) / np.sqrt(rv + bn.eps) * g + beta
        assert np.abs(e[0][i] - expected).max() < 1e-4


def test_bondless_molecules_are_the_same_at_every_depth(tiny_ckpts):
    enc = load_encoder(f"chemprop:{tiny_ckpts['bond-mean-bn']}", device="cpu")
    e = enc.embed(["C", "[Na+].[Cl-]", "CCO"])
    for k in range(1, enc.depth + 1):
        np.testing.assert_allclose(e[k][:2], e[0][:2], atol=1e-6)
    assert np.abs(e[3][2] - e[0][2]).max() > 1e-3  # a bonded molecule does change


def test_batching_and_invalid_rows_keep_order(tiny_ckpts):
    enc = load_encoder(f"chemprop:{tiny_ckpts['atom-norm']}", device="cpu")
    whole = enc.embed(SMILES)
    small = enc.embed(SMILES[::-1], batch_size=3)
    for k in range(len(whole)):
        np.testing.assert_allclose(small[k][::-1], whole[k], atol=1e-6)
    masked = enc.embed(["CCO", "not a smiles", "C"], on_invalid="mask")
    assert masked.valid.tolist() == [True, False, True]
    assert np.isnan(masked[2][1]).all()
    np.testing.assert_allclose(masked[2][[0, 2]], whole[2][[0, 4]], atol=1e-6)
    with pytest.raises(InvalidSmilesError, match="row 1"):
        enc.embed(["CCO", "not a smiles"])


def test_pooling_names_the_model_aggregation(tiny_ckpts):
    mean_enc = load_encoder(f"chemprop:{tiny_ckpts['bond-mean-bn']}", device="cpu")
    norm_enc = load_encoder(f"chemprop:{tiny_ckpts['atom-norm']}", device="cpu")
    assert mean_enc.embed(["CCO"]).pooling == "mean"
    assert norm_enc.embed(["CCO"]).pooling == "sum"
    with pytest.raises(ConfigError, match="does not support pooling 'max'"):
        mean_enc.embed(["CCO"], pooling="max")


def test_truncation_runs_fewer_steps(tiny_ckpts):
    path = tiny_ckpts["bond-mean-bn"]
    full = load_encoder(f"chemprop:{path}", device="cpu").embed(SMILES)
    for k in (0, 1, 3, 4):
        enc = load_encoder(f"chemprop:{path}", device="cpu", max_layer=k)
        assert enc.num_layers == k
        e = enc.embed(SMILES)
        assert len(e) == k + 1
        for j in range(k + 1):
            np.testing.assert_allclose(e[j], full[j], atol=1e-6)
    cut = load_encoder(f"chemprop:{path}", device="cpu").truncate(2)
    assert len(cut.embed(["CCO"])) == 3
    with pytest.raises(ConfigError, match="out of range"):
        load_encoder(f"chemprop:{path}", device="cpu", max_layer=9)


def test_random_init_is_seeded_and_differs(tiny_ckpts):
    path = tiny_ckpts["bond-mean-bn"]
    trained = load_encoder(f"chemprop:{path}", device="cpu").embed(SMILES)
    r1 = load_encoder(f"chemprop:{path}", device="cpu", random_init=True, seed=3).embed(SMILES)
    r2 = load_encoder(f"chemprop:{path}", device="cpu", random_init=True, seed=3).embed(SMILES)
    r3 = load_encoder(f"chemprop:{path}", device="cpu", random_init=True, seed=4).embed(SMILES)
    np.testing.assert_array_equal(r1[3], r2[3])
    assert np.abs(r1[3] - trained[3]).max() > 1e-3
    assert np.abs(r1[3] - r3[3]).max() > 1e-3


def test_identity_changes_with_weights_and_truncation(tiny_ckpts):
    a = load_encoder(f"chemprop:{tiny_ckpts['bond-mean-bn']}", device="cpu")
    b = load_encoder(f"chemprop:{tiny_ckpts['atom-norm']}", device="cpu")
    assert a.identity()["weights_sha256"] != b.identity()["weights_sha256"]
    assert a.identity() != a.truncate(1).identity()


# ---------------------------------------------------------------------------- safe loading
_RAN = []


def _side_effect():
    _RAN.append(True)
    return {}


class _Payload:
    def __reduce__(self):
        return (_side_effect, ())


def test_untrusted_globals_are_refused_without_running_code(tmp_path, tiny_ckpts):
    d = torch.load(tiny_ckpts["atom-norm"], weights_only=False)
    d["extra"] = _Payload()
    path = tmp_path / "evil.pt"
    torch.save(d, path)
    _RAN.clear()
    with pytest.raises(ConfigError, match="_side_effect.*trust_checkpoint=True"):
        load_encoder(f"chemprop:{path}", device="cpu")
    assert _RAN == []  # nothing in the file ran
    enc = load_encoder(f"chemprop:{path}", device="cpu", trust_checkpoint=True)
    assert _RAN == [True]
    assert enc.num_layers == 3


def test_bad_paths_and_files(tmp_path, tiny_ckpts):
    with pytest.raises(DataNotFoundError, match="not found"):
        load_encoder(f"chemprop:{tmp_path / 'nope.pt'}")
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.zeros(2)}, plain)
    with pytest.raises(ConfigError, match="not a chemprop v2 checkpoint"):
        load_encoder(f"chemprop:{plain}")
    with pytest.raises(ConfigError, match="unknown option.*pooling_mode"):
        load_encoder(f"chemprop:{tiny_ckpts['atom-norm']}", pooling_mode="x")
    with pytest.raises(ConfigError, match="checkpoint path"):
        load_encoder("chemprop:")


def test_descriptor_models_are_refused(tmp_path):
    torch.manual_seed(0)
    mp = cnn.BondMessagePassing(d_h=16, depth=2)
    pred = cnn.RegressionFFN(n_tasks=1, input_dim=16 + 4, hidden_dim=8)
    path = tmp_path / "xd.pt"
    save_model(path, MPNN(mp, cnn.MeanAggregation(), pred))
    with pytest.raises(ConfigError, match="extra molecule descriptors"):
        load_encoder(f"chemprop:{path}")


def test_lightning_ckpt_loads(tmp_path):
    """A checkpoint written by Lightning's Trainer (what ``chemprop train`` saves as .ckpt)."""
    from lightning import pytorch as pl

    torch.manual_seed(0)
    model = MPNN(cnn.BondMessagePassing(d_h=16, depth=2), cnn.MeanAggregation(),
                 cnn.RegressionFFN(input_dim=16, hidden_dim=8))
    data = [MoleculeDatapoint.from_smi(s, y=np.array([float(i)])) for i, s in enumerate(SMILES)]
    loader = build_dataloader(MoleculeDataset(data), batch_size=4, shuffle=False)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path,
                         accelerator="cpu", devices=1)
    trainer.fit(model, loader)
    ckpt = tmp_path / "tiny.ckpt"
    trainer.save_checkpoint(ckpt)
    ref = MPNN.load_from_checkpoint(ckpt).eval()
    e = load_encoder(f"chemprop:{ckpt}", device="cpu").embed(SMILES)
    with torch.no_grad():
        fp = ref.fingerprint(_reference_bmg(SMILES)).numpy()
    assert np.abs(e[2] - fp).max() < TOL


# ---------------------------------------------------------------------------- admet-ai
HAS_ADMET_AI = importlib.util.find_spec("admet_ai") is not None
needs_admet_ai = pytest.mark.skipif(
    not HAS_ADMET_AI, reason="admet-ai wheel not installed (pip install --no-deps admet-ai==2.0.1)"
)


@needs_admet_ai
def test_admet_ai_every_layer_matches_chemprop():
    path = cp.admet_ai_checkpoint()
    model = load_model(path).eval()  # chemprop's own (full-unpickling) loader, as admet-ai does
    enc = load_encoder("admet-ai", device="cpu")
    assert enc.name == "admet-ai" and enc.num_layers == 4 and enc.depth == 3
    e = enc.embed(SMILES)
    assert e.dims == [300] * 5 and e.pooling == "sum"
    ref = _chemprop_layers(model, SMILES)
    diffs = [float(np.abs(e[k] - ref[k - 1]).max()) for k in range(1, 5)]
    assert max(diffs) < TOL, diffs
    with torch.no_grad():
        fp = model.fingerprint(_reference_bmg(SMILES)).numpy()
    assert np.abs(e[3] - fp).max() < TOL


@needs_admet_ai
def test_admet_ai_other_models_and_card():
    enc = load_encoder("admet-ai", device="cpu", group="classification", index=2)
    assert enc.name == "admet-ai:classification/2"
    assert enc.identity()["weights_sha256"] != load_encoder("admet-ai").identity()["weights_sha256"]
    with pytest.raises(ConfigError, match="admet-ai model index"):
        load_encoder("admet-ai", index=7)
    card = get_card("admet-ai")
    assert card.weights_present is True
    assert any("leaks labels" in w for w in card.warnings)
    assert "TDC" in card.trained_on and card.num_layers == 4


def test_admet_ai_missing_gives_pip_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "admet_ai" else real(name, *a)
    )
    with pytest.raises(OptionalDependencyError, match="pip install --no-deps 'admet-ai"):
        load_encoder("admet-ai")
    assert get_card("admet-ai").weights_present is False



def test_token_states_are_atom_states_that_pool_to_the_layers(tiny_ckpts):
    from rdkit import Chem

    enc = load_encoder(f"chemprop:{tiny_ckpts['atom-norm']}", device="cpu")  # norm: sum / 100
    e = enc.embed(SMILES)
    states = enc.token_states(SMILES, batch_size=3)
    assert len(states) == len(e)
    for i, s in enumerate(parse_smiles(SMILES).canonical):
        n_atoms = Chem.MolFromSmiles(s).GetNumAtoms()
        for k in range(enc.depth + 1):
            assert states[k][i].shape == (n_atoms, 24)
            np.testing.assert_allclose(states[k][i].sum(0) / 100.0, e[k][i], atol=1e-6)
        assert states[enc.depth + 1][i].shape == (1, 8)
        np.testing.assert_allclose(states[enc.depth + 1][i][0], e[enc.depth + 1][i], atol=1e-6)
