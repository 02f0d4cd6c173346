"""Make the Pos-EGNN layer-by-layer fixture (tests/fixtures/posegnn) with IBM's own code.

Needs what molstrata does not ship, in a scratch folder outside the project:

- IBM's ``posegnn`` package, ``models/pos_egnn/posegnn`` of https://github.com/IBM/materials
  (the fixture was made from commit dc01519f434c0c10227a1d1955cd8a025b136151);
- ``torch_nl`` 0.3 (``pip install --no-deps --target SCRATCH/site torch-nl==0.3``);
- a stand-in ``torch_scatter.py`` (there are no wheels for recent torch) that maps the one
  call IBM's code makes onto ``torch_geometric.utils``::

      from torch_geometric.utils import scatter as _scatter
      def scatter(src, index, dim=-1, out=None, dim_size=None, reduce="sum"):
          assert out is None
          return _scatter(src, index, dim=dim, dim_size=dim_size, reduce=reduce)

Run from the repository root (rewrites the fixture files)::

    PYTHONPATH=SCRATCH:SCRATCH/site:src python tools/posegnn_reference.py

For each configuration in :data:`VARIANTS` it builds IBM's ``PosEGNN`` with a fixed seed,
perturbs every weight (so biases and norms are not at their trivial initial values), saves it
in the published checkpoint format (``{"config": ..., "state_dict": ...}``), and records the
node states of IBM's ``neighbor_embedding`` (layer 0) and of every block (IBM's
``embedding_0``), one molecule at a time, on molstrata conformers (seed 0) that are saved
with them.

The molecules avoid high symmetry (no Td centre such as tetramethylammonium): there an atom's
degree-1 steerable features cancel to float noise, which the optional steerable norm
(``int_vector_norm``) rescales to [0, 1], so no two implementations agree there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "posegnn"
SMILES = [
    "CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "OC(=O)CCl", "CCN(CC)CC", "CCCCCCCCCC",
    "C[N+](C)(C)CCO", "CC(=O)[O-]", "FC(F)(F)c1ccc(Br)cc1", "CS(=O)(=O)N", "OP(=O)(O)O",
    "c1ccc2c(c1)[nH]c1ccccc12", "C1CCC2(CC1)OCCO2", "N#Cc1ccncc1", "CC(C)(C)OC(=O)N[C@@H](C)C(=O)O",
    "ClC(Cl)Cl", "O", "C=CC=CC=O", "CSCC[C@H](N)C(=O)O", "I",
]
HIDDEN = 8
DECODER = dict(in_channels=HIDDEN, num_residues=4, hidden_channels=4, out_channels=1, activation="silu")
#: name -> IBM GotenNet settings (a small width; "options" turns on the optional parts)
VARIANTS = {
    "tiny": dict(hidden_channels=HIDDEN, num_layers=4, n_rbf=8, cutoff=4.0, num_heads=4, lmax=2,
                 activation="silu", weight_init="xavier_uniform", bias_init="zeros"),
    "tiny_options": dict(hidden_channels=HIDDEN, num_layers=4, n_rbf=6, cutoff=3.5, num_heads=2, lmax=2,
                         activation="silu", weight_init="xavier_uniform", bias_init="zeros",
                         radial_basis="GaussianRBF", edge_updates="gatedt_mlpa_linwa", evec_dim=6,
                         emlp_dim=10, sep_int_vec=False, scale_edge=False, int_layer_norm=True,
                         int_vector_norm=True, before_mixing_layer_norm=True,
                         after_mixing_layer_norm=True, epsilon=1e-6),
}


def conformers() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Canonical SMILES, atomic numbers (N,), coordinates (N, 3) float32, atoms per molecule."""
    from molstrata.data.conformers import generate_conformers
    from molstrata.data.smiles import parse_smiles

    canon = list(parse_smiles(SMILES).canonical)
    made = generate_conformers(canon, seed=0, on_error="raise", progress=False)
    z = np.concatenate([c.atomic_numbers for c in made.conformers]).astype(np.int64)
    pos = np.concatenate([c.coords for c in made.conformers]).astype(np.float32)
    counts = np.asarray([c.n_atoms for c in made.conformers], dtype=np.int64)
    return canon, z, pos, counts


def build(encoder: dict, seed: int) -> tuple[torch.nn.Module, dict]:
    """IBM's PosEGNN with random, perturbed weights, and its config."""
    from posegnn.model import PosEGNN

    config = {"encoder": dict(encoder), "decoder": dict(DECODER), "e0_mean": [0.0] * 100,
              "atomic_res_total_mean": 0.0, "atomic_res_total_std": 1.0}
    torch.manual_seed(seed)
    model = PosEGNN(config).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point() and "radial_basis" not in name:
                tensor.add_(0.05 * torch.randn(tensor.shape, generator=gen))
    return model, config


def run(model: torch.nn.Module, z: np.ndarray, pos: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """Per-atom node states of layer 0 and every block, one molecule at a time."""
    from torch_geometric.data import Data

    first: list[torch.Tensor] = []
    hook = model.encoder.neighbor_embedding.register_forward_hook(lambda _m, _i, out: first.append(out))
    layers: list[list[np.ndarray]] = []
    start = 0
    for n in counts:
        zz = torch.as_tensor(z[start:start + n])
        data = Data(z=zz, pos=torch.as_tensor(pos[start:start + n]), box=torch.zeros(1, 3, 3),
                    batch=torch.zeros(n, dtype=torch.long), num_graphs=1)
        out = model(data)["embedding_0"].detach()  # (n, d, 1, num_layers)
        per = [first[-1].detach().reshape(n, -1)] + [out[:, :, 0, k] for k in range(out.shape[-1])]
        layers.append([p.numpy().astype(np.float32) for p in per])
        start += n
    hook.remove()
    return [np.concatenate([mol[k] for mol in layers]) for k in range(len(layers[0]))]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    canon, z, pos, counts = conformers()
    np.savez_compressed(OUT / "molecules.npz", smiles=np.asarray(canon), atomic_numbers=z, coords=pos,
                        counts=counts)
    for seed, (name, encoder) in enumerate(VARIANTS.items()):
        model, config = build(encoder, seed=11 + seed)
        torch.save({"config": config, "state_dict": model.state_dict()}, OUT / f"{name}.ckpt")
        layers = run(model, z, pos, counts)
        np.savez_compressed(OUT / f"{name}_layers.npz", **{f"layer_{k}": v for k, v in enumerate(layers)})
        print(name, [v.shape for v in layers])


if __name__ == "__main__":
    main()
