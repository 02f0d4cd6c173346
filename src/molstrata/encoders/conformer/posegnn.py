"""Pos-EGNN (IBM Research, ``ibm-research/materials.pos-egnn``): scalar node states of the
node embedding and of every block, on RDKit conformers.

IBM's architecture code (``IBM/materials``, ``models/pos_egnn/posegnn``) is not on PyPI and
needs ``torch_scatter``/``torch_nl`` builds; molstrata computes the same encoder in its own
torch code (:mod:`molstrata.encoders.conformer.posegnn_net`), checked layer by layer against
IBM's code on a small random configuration (``tests/fixtures/posegnn``, made by
``tools/posegnn_reference.py``). The energy/force readout is not run.

Checkpoints: the published format (``pos-egnn.v1-6M.ckpt``), a torch zip holding
``{"config": {"encoder": {...}, ...}, "state_dict": {...}}`` (IBM's calculator reads it with
``torch.load(weights_only=True)``); a Lightning-style ``hyper_parameters`` key is read too.
molstrata reads it with ``torch.load(weights_only=True)`` from a local path, never downloads.
Where the checkpoint has no config, the sizes are read from the weights' shapes and the other
hyper-parameters are :class:`~molstrata.encoders.conformer.posegnn_net.PosEGNNConfig`'s
defaults (the card's).

Inputs are one conformer per molecule with explicit hydrogens (:mod:`molstrata.data.conformers`),
no periodic cell. Layer 0: node states after the embedding; layer k (1..4): after block k.
Pooling: ``mean`` (default, as IBM's own ``encode``), ``sum`` or ``max`` over all atoms.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from molstrata.core.errors import ConfigError, DataNotFoundError
from molstrata.encoders.base import BatchStates
from molstrata.encoders.card import EncoderCard
from molstrata.encoders.conformer.conformer3d import Conformer3DEncoder

if TYPE_CHECKING:  # the network imports torch: loaded only when a model is built
    from molstrata.encoders.conformer.posegnn_net import PosEGNNConfig, PosEGNNNet

HUB_ID = "ibm-research/materials.pos-egnn"
CHECKPOINT = "pos-egnn.v1-6M.ckpt"
WEIGHT_DIR_ENV = "POSEGNN_WEIGHT_DIR"
NUM_LAYERS = 4
HIDDEN = 256
#: configuration keys IBM's encoder takes that do not change its inference outputs
_IGNORED_KEYS = {"weight_init", "bias_init", "attn_dropout"}

#: molstrata parameter name -> IBM's (under ``encoder.``); {deep}: the edge MLP's output layer
_NAMES: list[tuple[str, str]] = [
    (r"node_embedding\.own\.", "embedding."),
    (r"node_embedding\.neighbour\.", "neighbor_embedding.embedding."),
    (r"node_embedding\.radial_filter\.", "neighbor_embedding.distance_proj.dense_layers.0."),
    (r"node_embedding\.mix_hidden\.", "neighbor_embedding.combine.dense_layers.0."),
    (r"node_embedding\.mix_norm\.", "neighbor_embedding.combine.dense_layers.0.norm."),
    (r"node_embedding\.mix_out\.", "neighbor_embedding.combine.dense_layers.1."),
    (r"edge_embedding\.hidden\.", "edge_embedding.edge_up.dense_layers.0."),
    (r"edge_embedding\.out\.", "edge_embedding.edge_up.dense_layers.1."),
    (r"radial\.", "radial_basis."),
    (r"before_mixing\.", "before_mixing_ln."),
    (r"after_mixing\.", "after_mixing_ln."),
    (r"blocks\.(\d+)\.scalar_norm\.", r"gata.\1.layernorm."),
    (r"blocks\.(\d+)\.steer_weight$", r"gata.\1.tln.weight"),
    (r"blocks\.(\d+)\.query\.", r"gata.\1.q_w."),
    (r"blocks\.(\d+)\.key\.", r"gata.\1.k_w."),
    (r"blocks\.(\d+)\.ctx_hidden\.", r"gata.\1.gamma_s.0."),
    (r"blocks\.(\d+)\.ctx_out\.", r"gata.\1.gamma_s.1."),
    (r"blocks\.(\d+)\.val_hidden\.", r"gata.\1.gamma_v.0."),
    (r"blocks\.(\d+)\.val_out\.", r"gata.\1.gamma_v.1."),
    (r"blocks\.(\d+)\.edge_attn\.", r"gata.\1.phik_w_ra."),
    (r"blocks\.(\d+)\.edge_gate\.", r"gata.\1.w_re."),
    (r"blocks\.(\d+)\.refiner\.mlp_hidden\.", r"gata.\1.edge_attr_up.dense_layers.0."),
    (r"blocks\.(\d+)\.refiner\.mlp_norm\.", r"gata.\1.edge_attr_up.dense_layers.0.norm."),
    (r"blocks\.(\d+)\.refiner\.mlp_out\.", r"gata.\1.edge_attr_up.dense_layers.{deep}."),
    (r"blocks\.(\d+)\.refiner\.vec_query\.", r"gata.\1.vecq_w."),
    (r"blocks\.(\d+)\.refiner\.vec_keys\.(\d+)\.", r"gata.\1.veck_w.{keys}"),
    (r"blocks\.(\d+)\.refiner\.dot_map\.", r"gata.\1.lin_w_linear."),
    (r"blocks\.(\d+)\.refiner\.dot_norm\.", r"gata.\1.lin_w_linear.norm."),
    (r"blocks\.(\d+)\.ff_proj\.", r"eqff.\1.w_vu."),
    (r"blocks\.(\d+)\.ff_hidden\.", r"eqff.\1.gamma_m.0."),
    (r"blocks\.(\d+)\.ff_out\.", r"eqff.\1.gamma_m.1."),
]


def ibm_name(key: str, cfg: PosEGNNConfig) -> str:
    """The name IBM's model gives molstrata's parameter ``key`` (without ``encoder.``)."""
    from molstrata.encoders.conformer.posegnn_net import EdgeUpdate

    how = EdgeUpdate.parse(cfg.edge_updates)
    for pattern, template in _NAMES:
        m = re.match(pattern, key)
        if m:
            keys = f"{m.group(2)}." if m.re.groups > 1 and cfg.sep_int_vec else ""
            head = m.expand(template.format(deep=1 if (how.mlp or how.mlpa) else 0, keys=keys))
            return head + key[m.end():]
    raise KeyError(key)  # every parameter has a rule above


def read_checkpoint(path: str | Path) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The encoder configuration (``None`` when absent) and the encoder's weights (names as
    IBM's ``GotenNet``, without ``encoder.``) of a Pos-EGNN checkpoint.

    Read with ``torch.load(weights_only=True)``: a file naming any Python global beyond
    tensors and containers is refused (:class:`~molstrata.core.safeload.UntrustedFileError`).
    """
    from molstrata.core.safeload import load_tensors

    obj = load_tensors(path, what="Pos-EGNN checkpoint")
    if not isinstance(obj, dict):
        raise ConfigError(f"Pos-EGNN checkpoint {path} holds a {type(obj).__name__}, not a dict")
    state = obj.get("state_dict", obj)
    if not isinstance(state, dict):
        raise ConfigError(f"Pos-EGNN checkpoint {path}: 'state_dict' is a {type(state).__name__}, not a dict")
    prefix = next((p for p in ("encoder.", "model.encoder.", "") if f"{p}embedding.weight" in state), None)
    if prefix is None:
        raise ConfigError(f"Pos-EGNN checkpoint {path} has no encoder weights ('encoder.embedding.weight')")
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    config = obj.get("config", obj.get("hyper_parameters"))
    encoder = config.get("encoder") if isinstance(config, dict) else None
    if encoder is not None and not isinstance(encoder, dict):
        raise ConfigError(f"Pos-EGNN checkpoint {path}: config['encoder'] is not a dict")
    return encoder, weights


def config_from(encoder: dict[str, Any] | None, weights: dict[str, Any], *, source: str,
                arch: dict[str, Any] | None = None) -> PosEGNNConfig:
    """The :class:`PosEGNNConfig` of a checkpoint: its own ``config["encoder"]``, or, when it
    has none, the sizes read from the weights and the defaults; then ``arch`` overrides."""
    from molstrata.encoders.conformer.posegnn_net import PosEGNNConfig

    fields = {f.name for f in dataclasses.fields(PosEGNNConfig)}
    if encoder is not None:
        unknown = sorted(set(encoder) - fields - _IGNORED_KEYS)
        if unknown:
            raise ConfigError(f"Pos-EGNN checkpoint {source}: unknown encoder settings {unknown}")
        values = {k: v for k, v in encoder.items() if k in fields}
    else:
        emb = weights["embedding.weight"]
        n_blocks = len({k.split(".")[1] for k in weights if k.startswith("gata.")})
        values = {"hidden_channels": int(emb.shape[1]), "max_z": int(emb.shape[0]),
                  "num_layers": n_blocks,
                  "n_rbf": int(weights["neighbor_embedding.distance_proj.dense_layers.0.weight"].shape[1])}
    values.update(arch or {})
    bad = sorted(set(values) - fields)
    if bad:
        raise ConfigError(f"unknown Pos-EGNN settings {bad}; known: {', '.join(sorted(fields))}")
    return PosEGNNConfig(**values).check()


def load_weights(model: PosEGNNNet, weights: dict[str, Any], *, source: str) -> None:
    """Copy IBM-named ``weights`` into ``model``; a ConfigError names missing or misshapen ones."""
    own = model.state_dict()
    names = {k: ibm_name(k, model.cfg) for k in own}
    missing = [n for n in names.values() if n not in weights]
    if missing:
        raise ConfigError(f"Pos-EGNN checkpoint {source} does not fit its configuration: "
                          f"{len(missing)} weights missing, e.g. {missing[:5]}")
    bad = [(n, tuple(weights[n].shape), tuple(own[k].shape)) for k, n in names.items()
           if tuple(weights[n].shape) != tuple(own[k].shape)]
    if bad:
        n, got, want = bad[0]
        raise ConfigError(f"Pos-EGNN checkpoint {source}: shapes differ for {len(bad)} weights, "
                          f"e.g. {n}: checkpoint {got} vs configuration {want}")
    model.load_state_dict({k: weights[n] for k, n in names.items()})


class PosEGNNEncoder(Conformer3DEncoder):
    """The node embedding and every block of Pos-EGNN on RDKit conformers.

    Attributes
    ----------
    model : :class:`PosEGNNNet`
    num_layers : blocks kept; ``embed`` returns ``num_layers + 1`` layers
    """

    poolings = ("mean", "max", "sum")
    default_pooling = "mean"
    token_budget = 4096
    max_batch_size = 64

    def __init__(self, model: PosEGNNNet, *, name: str, conformer_seed: int = 0,
                 facts: dict[str, Any] | None = None, device: str | None = None) -> None:
        self._setup(model, name=name, full_num_layers=model.cfg.num_layers,
                    conformer_seed=conformer_seed, facts=facts, device=device)
        self.num_layers = len(model.blocks)

    def _sizes(self, smiles: list[str]) -> np.ndarray:
        from rdkit import Chem

        return np.asarray([Chem.AddHs(Chem.MolFromSmiles(s)).GetNumAtoms() for s in smiles], dtype=np.int64)

    def _forward(self, smiles: list[str]) -> BatchStates:
        import torch

        self.prepare(smiles)
        confs = [self._conformers[s] for s in smiles]
        dtype = next(self.model.parameters()).dtype
        z = torch.as_tensor(np.concatenate([c.atomic_numbers for c in confs]), device=self.device)
        pos = torch.as_tensor(np.concatenate([c.coords for c in confs]), dtype=dtype, device=self.device)
        counts = [c.n_atoms for c in confs]
        nodes = self.model(z, pos, counts)
        t_max = max(counts)
        mask = torch.zeros(len(smiles), t_max, dtype=torch.bool, device=self.device)
        for i, n in enumerate(counts):
            mask[i, :n] = True
        hidden = []
        for h in nodes:
            dense = h.new_zeros(len(smiles), t_max, h.shape[-1])
            dense[mask] = h
            hidden.append(dense)
        return BatchStates(hidden=hidden, mask=mask, special=None, cls_index=0)

    def _identity_fields(self) -> dict[str, Any]:
        return {"config": dataclasses.asdict(self.model.cfg), **super()._identity_fields()}

    def truncate(self, n_layers: int) -> PosEGNNEncoder:
        """A copy keeping the first ``n_layers`` blocks."""
        model = self._truncated_model(n_layers, self.model, "blocks")
        return self._sharing_conformers(PosEGNNEncoder(
            model, name=self.name, conformer_seed=self.conformer_seed, facts=self._facts,
            device=str(self.device),
        ))


def default_checkpoint() -> Path | None:
    """``$POSEGNN_WEIGHT_DIR/pos-egnn.v1-6M.ckpt`` when the variable is set, else ``None``."""
    folder = os.environ.get(WEIGHT_DIR_ENV, "").strip()
    return Path(folder).expanduser() / CHECKPOINT if folder else None


def load_posegnn(
    *,
    checkpoint: str | Path | None = None,
    device: str | None = None,
    max_layer: int | None = None,
    random_init: bool = False,
    seed: int = 0,
    conformer_seed: int = 0,
    arch: dict[str, Any] | None = None,
    name: str = "pos-egnn",
    trust_remote_code: bool = False,
) -> PosEGNNEncoder:
    """Load Pos-EGNN's encoder as a :class:`PosEGNNEncoder`.

    Parameters
    ----------
    checkpoint : a checkpoint in the published format (``pos-egnn.v1-6M.ckpt``); required
        unless ``random_init``; default: ``$POSEGNN_WEIGHT_DIR/pos-egnn.v1-6M.ckpt``
    max_layer : build only the first ``max_layer`` blocks (1..num_layers)
    random_init : the configuration (the checkpoint's, else the defaults, plus ``arch``)
        with weights drawn with ``seed``
    conformer_seed : RDKit embedding seed of the conformers
    arch : configuration overrides (:class:`PosEGNNConfig` field names)
    trust_remote_code : unused; accepted for the common signature
    """
    import torch

    from molstrata.encoders.conformer.posegnn_net import PosEGNNConfig, PosEGNNNet

    ckpt = Path(checkpoint).expanduser() if checkpoint is not None else default_checkpoint()
    if ckpt is None and not random_init:
        raise DataNotFoundError(
            f"no Pos-EGNN checkpoint: pass checkpoint=<file> or set {WEIGHT_DIR_ENV} to a folder "
            f"holding {CHECKPOINT} (download it from the Hugging Face repository {HUB_ID})"
        )
    encoder_cfg, weights = read_checkpoint(ckpt) if ckpt is not None else (None, None)
    cfg = (config_from(encoder_cfg, weights, source=str(ckpt), arch=arch) if weights is not None
           else PosEGNNConfig(**(arch or {})).check())
    if max_layer is not None and not 1 <= int(max_layer) <= cfg.num_layers:
        raise ConfigError(f"max_layer={max_layer} is out of range: Pos-EGNN has {cfg.num_layers} blocks")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = PosEGNNNet(cfg, num_blocks=max_layer)
    if weights is not None and not random_init:
        load_weights(model, weights, source=str(ckpt))
    facts = {"source": str(ckpt) if ckpt and not random_init else "random", "random_init": bool(random_init)}
    if random_init:
        facts["seed"] = int(seed)
    return PosEGNNEncoder(model.eval(), name=name, conformer_seed=conformer_seed, facts=facts, device=device)


def posegnn_card() -> EncoderCard:
    """Model card of Pos-EGNN; ``weights_present`` looks in ``POSEGNN_WEIGHT_DIR``."""
    ckpt = default_checkpoint()
    return EncoderCard(
        name="pos-egnn",
        kind="3d",
        num_layers=NUM_LAYERS,
        dims=[HIDDEN] * (NUM_LAYERS + 1),
        description=(
            "Pos-EGNN v1 (IBM Research, 6M parameters): position-based equivariant GNN "
            "(GotenNet-style attention blocks over a radius graph, scalar and l=1..2 steerable "
            f"features) pretrained on MPtrj energies, forces and stress; {NUM_LAYERS} blocks, "
            f"{HIDDEN}-d node states. Layer 0: node embedding; layer k: scalar node states after "
            "block k; mean over atoms (hydrogens included)."
        ),
        source=(
            "molstrata's own torch re-implementation (encoders/conformer/posegnn_net.py) of IBM's "
            "code in github.com/IBM/materials models/pos_egnn/posegnn (commit dc01519; not on PyPI)"
        ),
        weights=f"{HUB_ID}: {CHECKPOINT}",
        how_to_get_weights=(
            f"download {CHECKPOINT} from the Hugging Face repository {HUB_ID} into a folder and "
            f"set {WEIGHT_DIR_ENV} to it, or pass checkpoint=<file>."
        ),
        verified=(
            "the architecture, layer by layer (node embedding and all 4 blocks, per atom, to 1e-5), "
            "against IBM's own code (commit dc01519, run outside molstrata with a torch_scatter "
            "stand-in) on a small random-initialised configuration and 20 molecules "
            "(tests/fixtures/posegnn, tools/posegnn_reference.py). NOT verified: the published "
            f"weights {CHECKPOINT} (they cannot be downloaded on the build machine), and its full "
            "configuration: hidden size 256 (IBM's example notebook) and 4 blocks are known; the "
            "other settings are read from the checkpoint's config, or default to GotenNet's "
            "constructor defaults when it has none."
        ),
        license="Apache-2.0 (per the model page)",
        trained_on="1.4M MPtrj structures (inorganic materials)",
        warnings=[
            "trained on materials (MPtrj): molecules are out of its training domain",
            "conformers come from molstrata's RDKit recipe (ETKDGv3 + MMFF)",
            "a checkpoint without its own config gets GotenNet's defaults for all but the sizes: "
            "at those defaults the 256-wide 4-block model has 6.0M weights (a 24.1 MB file), the "
            "published file is 26.5 MB, so its edge-update options likely differ from them",
        ],
        weights_present=bool(ckpt and ckpt.is_file()),
    )
