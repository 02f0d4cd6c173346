"""Atom-masking augmentation of the graph encoders (GINE, MiniMol, chemprop) and its use by
``analyze``: every masked view is checked against a direct forward pass of the model on
features masked by hand, so the adapters' batching, row order and masking are all tested."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem

from extras import installed_or_skip
from molstrata.analysis import analyze, augmented_views, dime, infonce
from molstrata.core.errors import ConfigError, InvalidSmilesError
from molstrata.encoders.graph.graph_features import (
    edges_touching,
    mask_graph,
    masked_atoms,
    smiles_to_graph,
)

SMILES = [
    "CCO",
    "c1ccccc1O",
    "C[N+](C)(C)C.[Cl-]",
    "N#CC(=O)N[C@@H](C)C(=O)O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "C",
    "CC(=O)Oc1ccccc1C(=O)O",  # a duplicate at another index gets its own mask
    "FC(F)(F)c1ccc(cc1)N1CCN(CC1)C(=O)C1CC1",
]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def gin():
    from molstrata.encoders import load_encoder

    return load_encoder("molstrata-graph", random_init=True, seed=0, device="cpu")


def _canon(s: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(s))


# ----------------------------------------------------------------------------- the draw
def test_masked_atoms_count_range_and_seeding():
    for n in (1, 3, 7, 20, 41):
        atoms = masked_atoms(n, fraction=0.15, seed=5, index=2)
        # Hu et al.'s MaskAtom: int(n * rate + 1) atoms, so at least one
        assert len(atoms) == min(n, int(n * 0.15 + 1))
        assert len(set(atoms.tolist())) == len(atoms)
        assert atoms.min() >= 0 and atoms.max() < n
        assert np.all(np.diff(atoms) > 0)
        np.testing.assert_array_equal(atoms, masked_atoms(n, fraction=0.15, seed=5, index=2))
    assert len(masked_atoms(30, fraction=0.0, seed=1, index=0)) == 0
    np.testing.assert_array_equal(masked_atoms(6, fraction=1.0, seed=1, index=0), np.arange(6))
    draws = {tuple(masked_atoms(30, fraction=0.15, seed=s, index=0)) for s in range(20)}
    assert len(draws) > 15  # different seeds pick different atoms
    by_index = {tuple(masked_atoms(30, fraction=0.15, seed=0, index=i)) for i in range(20)}
    assert len(by_index) > 15


@pytest.mark.parametrize("kw", [{"fraction": 1.5}, {"fraction": -0.1}, {"seed": -1}])
def test_masked_atoms_rejects_bad_arguments(kw):
    args = {"fraction": 0.15, "seed": 0, "index": 0, **kw}
    with pytest.raises(ConfigError):
        masked_atoms(10, **args)


def test_mask_graph_zeroes_atoms_and_optionally_their_bonds_only():
    g = smiles_to_graph("CC(=O)Oc1ccccc1C(=O)O")
    atoms = np.array([1, 4])
    m = mask_graph(g, atoms)
    keep = np.setdiff1d(np.arange(g.num_nodes), atoms)
    assert torch.all(m.x[atoms] == 0) and torch.equal(m.x[keep], g.x[keep])
    assert torch.equal(m.edge_attr, g.edge_attr) and torch.equal(m.edge_index, g.edge_index)
    assert torch.all(g.x[atoms].sum(1) > 0)  # the input graph is untouched
    mb = mask_graph(g, atoms, mask_bonds=True)
    src, dst = g.edge_index.numpy()
    touching = np.array([(s in (1, 4)) or (d in (1, 4)) for s, d in zip(src, dst, strict=True)])
    mol = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")
    n_bonds = len({b.GetIdx() for a in (1, 4) for b in mol.GetAtomWithIdx(a).GetBonds()})
    assert touching.sum() == 2 * n_bonds
    np.testing.assert_array_equal(edges_touching(g.edge_index, atoms), touching)
    assert torch.all(mb.edge_attr[torch.from_numpy(touching)] == 0)
    assert torch.equal(mb.edge_attr[torch.from_numpy(~touching)], g.edge_attr[torch.from_numpy(~touching)])


# ----------------------------------------------------------------------------- GINE
def _gin_reference(enc, smiles, seed, fraction=0.15, mask_bonds=False):
    """Direct GINE forward per molecule on hand-masked one-hot features, mean-pooled."""
    out = None
    for i, s in enumerate(smiles):
        g = smiles_to_graph(_canon(s))
        atoms = masked_atoms(g.num_nodes, fraction=fraction, seed=seed, index=i)
        x, ea = g.x.clone(), g.edge_attr.clone()
        x[torch.as_tensor(atoms, dtype=torch.long)] = 0.0
        if mask_bonds:
            for e, (a, b) in enumerate(g.edge_index.t().tolist()):
                if a in atoms or b in atoms:
                    ea[e] = 0.0
        with torch.no_grad():
            states = enc.module(x, g.edge_index, ea)
        if out is None:
            out = [np.zeros((len(smiles), h.shape[1]), dtype=np.float32) for h in states]
        for k, h in enumerate(states):
            out[k][i] = h.mean(0).numpy()
    return out


@pytest.mark.parametrize("mask_bonds", [False, True])
def test_gin_view_equals_a_direct_forward_on_masked_features(gin, mask_bonds):
    view = gin.embed_augmented(SMILES, kind="atom_mask", seed=7, pooling=None, mask_bonds=mask_bonds)
    ref = _gin_reference(gin, SMILES, seed=7, mask_bonds=mask_bonds)
    assert len(view) == gin.num_layers + 1
    for k in range(len(view)):
        np.testing.assert_allclose(view[k], ref[k], rtol=1e-5, atol=1e-5)
    assert view.meta["fraction"] == 0.15 and view.meta["mask_bonds"] is mask_bonds
    # a masked atom enters as the input projection's bias: the zero-feature "blank atom"
    g = smiles_to_graph(_canon(SMILES[7]))
    atoms = masked_atoms(g.num_nodes, fraction=0.15, seed=7, index=7)
    with torch.no_grad():
        h0 = gin.module.input_proj(g.x)
    h0[atoms] = gin.module.input_proj.bias.detach()
    np.testing.assert_allclose(view[0][7], h0.mean(0).numpy(), rtol=1e-5, atol=1e-6)


def test_gin_views_are_seeded_independent_of_batching_and_differ(gin):
    a = gin.embed_augmented(SMILES, kind="atom_mask", seed=3, pooling="mean")
    again = gin.embed_augmented(SMILES, kind="atom_mask", seed=3, pooling="mean", batch_size=1)
    for x, y in zip(a, again, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    b = gin.embed_augmented(SMILES, kind="atom_mask", seed=4, pooling="mean")
    plain = gin.embed(SMILES, pooling="mean")
    # every molecule has at least one masked atom, so layer 0 (the pooled input embedding)
    # differs from the plain embedding in every row
    assert np.all(np.abs(a[0] - plain[0]).max(axis=1) > 1e-4)
    assert np.all(np.abs(a[-1] - plain[-1]).max(axis=1) > 1e-4)
    # another seed masks other atoms in most molecules (1-atom "C" cannot change)
    differs = np.abs(a[-1] - b[-1]).max(axis=1) > 1e-5
    assert differs.sum() >= 5 and not differs[5]
    # the duplicate molecule at index 6 is masked differently from the one at index 4
    assert np.abs(a[-1][4] - a[-1][6]).max() > 1e-4
    np.testing.assert_allclose(plain[-1][4], plain[-1][6], rtol=1e-6, atol=1e-6)


def test_gin_unmasked_view_is_the_plain_embedding(gin):
    for pooling in ("mean", "max", "sum"):
        zero = gin.embed_augmented(SMILES, kind="atom_mask", seed=9, pooling=pooling, fraction=0.0)
        plain = gin.embed(SMILES, pooling=pooling)
        for x, y in zip(zero, plain, strict=True):
            np.testing.assert_array_equal(x, y)


def test_gin_rows_follow_input_order(gin):
    order = [3, 0, 7, 1]
    sub = [SMILES[i] for i in order]
    view = gin.embed_augmented(sub, kind="atom_mask", seed=2, pooling=None)
    ref = _gin_reference(gin, sub, seed=2)  # molecule at position j is seeded by index j
    for k in range(len(view)):
        np.testing.assert_allclose(view[k], ref[k], rtol=1e-5, atol=1e-5)
    assert view.smiles == tuple(sub) and view.valid.all()


def test_gin_hook_errors(gin):
    with pytest.raises(InvalidSmilesError, match="row 1"):
        gin.embed_augmented(["CCO", "C1CC", "CCN"], kind="atom_mask", seed=0, pooling=None)
    with pytest.raises(ConfigError, match="random_smiles"):
        gin.embed_augmented(SMILES, kind="random_smiles", seed=0, pooling=None)
    with pytest.raises(ConfigError, match="fraction"):
        gin.embed_augmented(SMILES, kind="atom_mask", seed=0, pooling=None, fraction=2.0)
    with pytest.raises(ConfigError, match="cls"):
        gin.embed_augmented(SMILES, kind="atom_mask", seed=0, pooling="cls")


# ----------------------------------------------------------------------------- analysis
def test_augmented_views_pick_atom_mask_for_graph_encoders(gin, small_smiles):
    aug, notes = augmented_views(gin, small_smiles[:12], n_views=3, seed=1)
    assert aug.kind == "atom_mask" and not aug.identical
    assert aug.layers[0].shape == (12, 3, 256)
    assert any("15% of each molecule's atoms" in n for n in notes)
    # view v is embed_augmented with seed 1000 * seed + v
    v2 = gin.embed_augmented(small_smiles[:12], kind="atom_mask", seed=1002, pooling=None)
    np.testing.assert_allclose(aug.layers[3][:, 2], v2[3], rtol=1e-6, atol=1e-6)
    with pytest.raises(ConfigError, match="supported: atom_mask"):
        augmented_views(gin, small_smiles[:5], augmentation="random_smiles")
    half, notes = augmented_views(gin, small_smiles[:12], n_views=2, seed=1, mask_fraction=0.5)
    assert any("50% of each molecule's atoms" in n for n in notes)
    assert not np.allclose(half.layers[-1], aug.layers[-1][:, :2])


def test_infonce_and_dime_separate_masked_views_from_shuffled_pairs(gin, small_smiles):
    aug, _ = augmented_views(gin, small_smiles[:48], n_views=2, seed=0)
    perm = np.random.default_rng(0).permutation(48)
    for z in (aug.layers[1], aug.layers[-1]):
        z = z.astype(np.float64)
        same = infonce(z[:, 0], z[:, 1])
        shuffled = infonce(z[:, 0], z[perm, 1])
        assert same > shuffled + 1.0
        assert dime(z[:, 0], z[:, 1], n_permutations=3, seed=0) > dime(
            z[:, 0], z[perm, 1], n_permutations=3, seed=0
        )


def test_analyze_cli_on_a_graph_encoder_uses_atom_mask(gin, small_smiles, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import molstrata.encoders
    from molstrata.cli import app
    from molstrata.core.config import load_config

    monkeypatch.setattr(molstrata.encoders, "load_encoder", lambda name, **kw: gin)

    monkeypatch.setattr("molstrata.encoders.registry.check_encoder_ref", lambda name: None)  # a test-only name
    csv = tmp_path / "mols.csv"
    pd.DataFrame({"SMILES": small_smiles[:30]}).to_csv(csv, index=False)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "analyze", "--encoder", "molstrata-graph", "--input", str(csv), "--out", str(out),
        "--max-molecules", "24", "--aug-molecules", "16", "--n-augmentations", "3",
        "--token-molecules", "8", "--augmentation", "auto",
    ])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(out / "layer_metrics.csv")
    wide = metrics.pivot(index="layer", columns="metric", values="value")
    assert len(wide) == gin.num_layers + 1
    for m in ("infonce_mi", "lidar", "dime"):
        assert wide[m].notna().all(), m
    assert (wide["infonce_mi"] > 0).all()
    params = load_config(out)["params"]
    assert params["augmentation"] == "auto" and params["augmentation_used"] == "atom_mask"
    assert params["atom_mask_fraction"] == 0.15
    report = (out / "report.md").read_text()
    assert "augmentation metrics: atom_mask" in report


def test_analyze_reports_no_mask_fraction_for_random_smiles(toy_encoder, small_smiles):
    prof = analyze(toy_encoder, small_smiles[:20], metrics=["infonce_mi"], aug_molecules=8,
                   n_augmentations=2, mask_fraction=0.3)
    assert prof.params["augmentation_used"] == "random_smiles"
    assert prof.params["atom_mask_fraction"] is None


# ----------------------------------------------------------------------------- MiniMol
@pytest.fixture(scope="module")
def minimol():
    from molstrata.encoders.graph import minimol as mm

    return mm.load_minimol(device="cpu", random_init=True, seed=0, download=False)


def test_minimol_view_equals_a_direct_forward_on_masked_node_features(minimol):
    from molstrata.encoders.graph.minimol import collate
    from molstrata.encoders.graph.minimol_featurize import featurize

    smi = SMILES[:6]
    view = minimol.embed_augmented(smi, kind="atom_mask", seed=11, pooling="max")
    assert len(view) == 17
    for i, s in enumerate(smi):
        g = featurize(_canon(s))
        x = g.x.astype(np.float32)
        x[masked_atoms(g.num_nodes, fraction=0.15, seed=11, index=i)] = 0.0
        inputs = collate([g])
        inputs["x"] = torch.from_numpy(x)
        with torch.no_grad():
            nodes = minimol.net(**inputs)
        for k in (0, 1, 8, 16):
            np.testing.assert_allclose(view[k][i], nodes[k].max(0).values.numpy(), rtol=1e-4, atol=1e-4)
    plain = minimol.embed(smi)
    zero = minimol.embed_augmented(smi, kind="atom_mask", seed=11, pooling="max", fraction=0.0)
    for x, y in zip(zero, plain, strict=True):
        np.testing.assert_array_equal(x, y)
    assert np.all(np.abs(view[-1] - plain[-1]).max(axis=1) > 1e-5)
    # the featuriser's cache was not edited in place by the masking
    for x, y in zip(minimol.embed(smi), plain, strict=True):
        np.testing.assert_array_equal(x, y)


# ----------------------------------------------------------------------------- chemprop
def test_chemprop_view_matches_chemprops_own_fingerprint_on_masked_atoms(tmp_path):
    installed_or_skip("chemprop", "this test")
    from chemprop import nn as cnn
    from chemprop.data import BatchMolGraph
    from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer
    from chemprop.models import MPNN
    from chemprop.models.utils import save_model

    from molstrata.encoders.graph.chemprop import load_chemprop

    torch.manual_seed(0)
    model = MPNN(cnn.BondMessagePassing(d_h=32, depth=3), cnn.MeanAggregation(),
                 cnn.RegressionFFN(n_tasks=1, input_dim=32, hidden_dim=16, n_layers=1)).eval()
    save_model(tmp_path / "m.pt", model)
    enc = load_chemprop(tmp_path / "m.pt", device="cpu")
    smi = SMILES[:5]
    view = enc.embed_augmented(smi, kind="atom_mask", seed=4, pooling=None)
    featurizer = SimpleMoleculeMolGraphFeaturizer()
    mgs = []
    for i, s in enumerate(smi):
        mg = featurizer(Chem.MolFromSmiles(_canon(s)))
        V = mg.V.copy()
        V[masked_atoms(len(V), fraction=0.15, seed=4, index=i)] = 0
        mgs.append(mg._replace(V=V))
    with torch.no_grad():
        fp = model.fingerprint(BatchMolGraph(mgs)).numpy()
    np.testing.assert_allclose(view[3], fp, rtol=1e-5, atol=1e-5)  # layer T = depth 3
    plain = enc.embed(smi)
    zero = enc.embed_augmented(smi, kind="atom_mask", seed=4, pooling=None, fraction=0.0)
    for x, y in zip(zero, plain, strict=True):
        np.testing.assert_array_equal(x, y)
    assert np.all(np.abs(view[3] - plain[3]).max(axis=1) > 1e-6)


# ----------------------------------------------------------------------------- probe join
def _tiny_gine(seed: int):
    from molstrata.encoders.graph.gin import GINE, GraphEncoder

    torch.manual_seed(seed)
    return GraphEncoder(GINE(hidden=16, num_layers=3), name="tiny-gine", device="cpu")


@pytest.fixture(scope="module")
def tiny_probe_run(data_dir, tmp_path_factory):
    """A real linear-probe sweep of a tiny GINE on hia_hou, seeds 1 and 2."""
    from molstrata.runs.probe import sweep

    gin = _tiny_gine(0)
    out = tmp_path_factory.mktemp("probe")
    with pytest.MonkeyPatch.context() as mp:  # module scope: isolate the cache here
        mp.setenv("MOLSTRATA_CACHE_DIR", str(tmp_path_factory.mktemp("probe_cache")))
        sweep([gin], "hia_hou", [1, 2], out=out, data_dir=data_dir, report=False, progress=False)
    return gin, out / "probe_results.csv"


def _analyze_with_probes(encoder, probes_csv, data_dir, out, monkeypatch):
    from typer.testing import CliRunner

    import molstrata.encoders
    from molstrata.cli import app

    monkeypatch.setattr(molstrata.encoders, "load_encoder", lambda name, **kw: encoder)

    monkeypatch.setattr("molstrata.encoders.registry.check_encoder_ref", lambda name: None)  # a test-only name
    result = CliRunner().invoke(app, [
        "analyze", "--encoder", "x", "--task", "hia_hou", "--data-dir", str(data_dir),
        "--out", str(out), "--max-molecules", "60", "--aug-molecules", "16",
        "--n-augmentations", "2", "--token-molecules", "8", "--probe-results", str(probes_csv),
    ])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_analysis_joins_a_real_probe_run_of_the_same_encoder(tiny_probe_run, data_dir, tmp_path, monkeypatch):
    """probe sweep → analyze --probe-results: correlation and regret tables, recomputed here
    from the two CSV files with scipy."""
    from scipy.stats import spearmanr

    gin, probes_csv = tiny_probe_run
    probes = pd.read_csv(probes_csv)
    assert set(probes["encoder"]) == {"tiny-gine"}
    out = tmp_path / "analysis"
    result = _analyze_with_probes(gin, probes_csv, data_dir, out, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "WARNING" not in (out / "report.md").read_text()
    corr = pd.read_csv(out / "metric_probe_correlation.csv")
    metrics = pd.read_csv(out / "layer_metrics.csv")
    assert set(corr["metric"]) == set(metrics["metric"])
    assert (corr["encoder"] == "tiny-gine").all() and (corr["task"] == "hia_hou").all()
    valid = probes[probes["split"] == "valid"].groupby("layer")["score"].mean()  # roc-auc: higher is better
    for metric, row in corr.set_index("metric").iterrows():
        v = metrics[metrics["metric"] == metric].set_index("layer")["value"].dropna()
        common = v.index.intersection(valid.index)
        if len(common) >= 3 and v.loc[common].nunique() > 1:
            assert row["spearman"] == pytest.approx(spearmanr(v.loc[common], valid.loc[common])[0])
            assert row["n_layers"] == len(common)
    regret = pd.read_csv(out / "recommendation_regret.csv")
    assert len(regret) == 1 and regret.loc[0, "final_layer"] == gin.num_layers
    per_seed = probes[probes["split"] == "valid"].pivot_table(index="layer", columns="seed", values="score")
    assert regret.loc[0, "selected_layers"] == ",".join(str(int(per_seed[s].idxmax())) for s in (1, 2))
    report = (out / "report.md").read_text()
    assert "Do the metrics predict the validation probe score?" in report
    assert "Regret of the label-free recommendation" in report


def test_probe_results_of_other_weights_or_another_encoder_are_flagged(
    tiny_probe_run, data_dir, tmp_path, monkeypatch
):
    from molstrata.analysis.recommend import check_probe_results

    gin, probes_csv = tiny_probe_run
    probes = pd.read_csv(probes_csv)
    assert check_probe_results(probes, probes_csv, gin) == []
    other = _tiny_gine(1)  # same name and architecture, other weights
    notes = check_probe_results(probes, probes_csv, other)
    assert len(notes) == 1 and "weights_sha" in notes[0] and gin.identity()["weights_sha"] in notes[0]
    out = tmp_path / "analysis"
    result = _analyze_with_probes(other, probes_csv, data_dir, out, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "WARNING: the probe run" in (out / "report.md").read_text()
    renamed = GraphEncoderNamed(gin, "another-encoder")
    with pytest.raises(ConfigError, match="no rows for encoder 'another-encoder'.*tiny-gine"):
        check_probe_results(probes, probes_csv, renamed)
    # the CLI refuses before analysing anything
    with pytest.raises(ConfigError, match="no rows for encoder 'another-encoder'"):
        _analyze_with_probes(renamed, probes_csv, data_dir, tmp_path / "o2", monkeypatch)
    assert not (tmp_path / "o2" / "layer_metrics.csv").exists()


class GraphEncoderNamed:
    """An encoder under another name (for the join checks only)."""

    def __init__(self, inner, name):
        self.inner, self.name = inner, name

    def identity(self):
        return {**self.inner.identity(), "name": self.name}
