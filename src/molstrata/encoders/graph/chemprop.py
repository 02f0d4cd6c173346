"""chemprop v2 D-MPNN checkpoints as molstrata encoders, one layer per message-passing depth.

chemprop's own ``fingerprint``/``encoding(i)`` reach only the aggregated final depth and the
FFN layers, because its message-passing loop overwrites ``H`` with one shared ``W_h`` at
every step (chemprop issue #722). This adapter runs that loop itself, with the model's own
modules (``initialize``, ``message``, ``update``, ``finalize``, ``agg``, ``bn``,
``predictor.encode``), and keeps every step.

What layer ``k`` means (``T`` = the checkpoint's ``depth``, ``F`` = its FFN hidden layers)
------------------------------------------------------------------------------------------
- ``k = 0``: no message passing. Each atom is finalised with an all-zero message,
  ``tau(W_o [x_v || 0])``: what the model's readout makes of the atom's own features, as
  it does for an atom that has no bonds.
- ``k = 1 .. T``: the atom states after ``k`` hops. chemprop's bond states after
  ``k - 1`` updates (``H_0 = tau(W_i(x_u || e_uv))`` already holds one hop) are summed onto
  their target atoms and finalised, ``tau(W_o [x_v || sum_u h_uv])``, exactly as chemprop
  finalises the last one. ``k = T`` is chemprop's own message-passing output.
- Every one of the ``T + 1`` atom-state layers is pooled per molecule the way the model
  pools: its ``agg`` (mean, sum, norm = sum / norm, attentive), then its ``bn`` (identity
  unless the model was trained with ``batch_norm``; in eval mode a fixed per-feature affine
  map). Layer ``T`` therefore equals ``MPNN.fingerprint`` (= ``MPNN.encoding(i=0)``).
- ``k = T + j`` for ``j = 1 .. F``: the ``j``-th FFN hidden layer, chemprop's
  ``MPNN.encoding(i=j)``: the output of the ``j``-th linear layer, before its activation
  (chemprop's convention). The output layer (the predictions) is not a layer.

Dropout is off (``eval()``). Models that need extra atom descriptors (``V_d``) or molecule
descriptors (``X_d``), and multicomponent or atom/bond-property models, are refused with a
clear error: their inputs cannot be derived from a SMILES alone.

Checkpoints are read by :mod:`molstrata.encoders.graph.chemprop_checkpoint` (an exact
allowlist of pickled globals, :data:`CHEMPROP_GLOBALS`; see there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from molstrata.core.device import resolve_device
from molstrata.core.errors import ConfigError, DataNotFoundError, OptionalDependencyError
from molstrata.core.hashing import file_sha256
from molstrata.encoders.base import BatchStates, Encoder
from molstrata.encoders.card import EncoderCard
from molstrata.encoders.graph.chemprop_checkpoint import (
    ADMET_AI_GROUPS,
    ADMET_AI_MODELS,
    ADMET_AI_PIP,
    CHEMPROP_GLOBALS,
    CHEMPROP_PIP,
    admet_ai_checkpoint,
    build_mpnn,
    load_checkpoint_dict,
)

__all__ = [  # the checkpoint names stay importable from here
    "ADMET_AI_GROUPS", "ADMET_AI_MODELS", "ADMET_AI_PIP", "CHEMPROP_GLOBALS", "CHEMPROP_PIP",
    "ChempropEncoder", "admet_ai_card", "admet_ai_checkpoint", "build_mpnn", "load_admet_ai",
    "load_chemprop", "load_checkpoint_dict",
]

#: chemprop's atom featurizers, by the atom feature width d_v they produce (bond width 14)
_FEATURIZER_BY_DV = {72: "v2", 133: "v1", 44: "organic"}
_BOND_FDIM = 14


# ---------------------------------------------------------------------------- encoder
def _atom_featurizer_mode(mpnn: Any, source: str) -> str:
    mp = mpnn.message_passing
    d_v = int(mp.hparams["d_v"])
    d_e = int(mp.hparams["d_e"])
    mode = _FEATURIZER_BY_DV.get(d_v)
    if mode is None or d_e != _BOND_FDIM:
        raise ConfigError(
            f"{source}: atom/bond feature widths d_v={d_v}, d_e={d_e} match none of "
            f"chemprop's featurizers (d_v: {', '.join(f'{v}={k}' for k, v in sorted((v, k) for k, v in _FEATURIZER_BY_DV.items()))}; "
            f"d_e={_BOND_FDIM}); models trained with extra atom/bond features are not supported"
        )
    return mode


class ChempropEncoder(Encoder):
    """A chemprop v2 ``MPNN`` exposing every message-passing depth and FFN hidden layer.

    ``embed`` returns ``depth + n_ffn_hidden + 1`` layers (see the module docstring for what
    layer ``k`` means). Each layer is already one vector per molecule, pooled as the model
    pools (its ``agg``); ``pooling`` therefore only names that aggregation: ``"mean"`` for a
    ``MeanAggregation`` model, ``"sum"`` for sum, norm (sum / norm) and attentive (weighted
    sum) ones.

    Parameters
    ----------
    mpnn : chemprop.models.MPNN, in eval mode
    name : the encoder name
    identity : facts hashed into cache keys (weights sha256, source)
    max_layer : keep layers ``0 .. max_layer`` only (fewer message-passing steps)
    device : torch device
    """

    #: states come back as one vector per molecule (no padding), so batches are capped only
    #: by ``max_batch_size`` molecules
    token_budget = 1 << 30
    #: augmentations :meth:`embed_augmented` implements (see :mod:`molstrata.analysis.augment`)
    augmentations = ("atom_mask",)
    #: fraction of atoms one masked view hides (Hu et al. 2020)
    atom_mask_fraction: float = 0.15
    #: also zero the features of the bonds touching a masked atom
    atom_mask_bonds: bool = False

    def __init__(
        self,
        mpnn: Any,
        *,
        name: str,
        identity: dict[str, Any],
        max_layer: int | None = None,
        device: str | None = None,
    ) -> None:
        import torch  # noqa: PLC0415

        source = identity.get("source", name)
        mp = mpnn.message_passing
        if getattr(mp, "W_d", None) is not None:
            raise ConfigError(
                f"{source}: the model needs extra atom descriptors (V_d, d_vd="
                f"{mp.hparams.get('d_vd')}), which a SMILES alone cannot supply"
            )
        if int(mpnn.predictor.input_dim) != int(mp.output_dim):
            raise ConfigError(
                f"{source}: the model needs extra molecule descriptors (X_d: predictor input "
                f"{mpnn.predictor.input_dim} > fingerprint {mp.output_dim}), which a SMILES "
                "alone cannot supply"
            )
        self._featurizer_mode = _atom_featurizer_mode(mpnn, source)
        self.depth = int(mp.depth)
        self.n_ffn_hidden = len(mpnn.predictor.ffn) - 1
        full = self.depth + self.n_ffn_hidden
        if max_layer is not None and not 0 <= int(max_layer) <= full:
            raise ConfigError(
                f"max_layer={max_layer} out of range for {name!r}: it has layers 0..{full} "
                f"({self.depth} message-passing depths, {self.n_ffn_hidden} FFN hidden layers)"
            )
        self.num_layers = full if max_layer is None else int(max_layer)
        self.name = name
        self._identity = dict(identity)
        self.device = torch.device(resolve_device(device))
        self.mpnn = mpnn.to(self.device).eval()
        agg = type(mpnn.agg).__name__
        self.aggregation = agg
        self.poolings = ("mean",) if agg == "MeanAggregation" else ("sum",)
        self.default_pooling = self.poolings[0]
        self._featurizer = None

    # ------------------------------------------------------------------ contract
    def identity(self) -> dict[str, Any]:
        import chemprop  # noqa: PLC0415

        return {
            **super().identity(),
            **self._identity,
            "aggregation": self.aggregation,
            "featurizer": self._featurizer_mode,
            "chemprop": str(chemprop.__version__),
        }

    def truncate(self, n_layers: int) -> ChempropEncoder:
        """A copy exposing layers ``0 .. n_layers`` (``n_layers <= depth``: fewer message-passing steps)."""
        return ChempropEncoder(
            self.mpnn, name=self.name, identity=self._identity, max_layer=n_layers,
            device=str(self.device),
        )

    @property
    def module(self) -> Any:
        """The chemprop ``MPNN`` (a ``torch.nn.Module``), shared by truncated copies."""
        return self.mpnn

    @property
    def layer_names(self) -> list[str]:
        """A label per layer: ``mp0`` (no message passing) .. ``mpT``, then ``ffn1`` ...."""
        names = [f"mp{k}" for k in range(self.depth + 1)]
        names += [f"ffn{j}" for j in range(1, self.n_ffn_hidden + 1)]
        return names[: self.num_layers + 1]

    # ------------------------------------------------------------------ forward
    def _graphs(self, smiles: list[str], masks: list[Any] | None = None) -> Any:
        """chemprop's ``BatchMolGraph`` of ``smiles``; ``masks[i]`` (optional) is a callable
        ``MolGraph -> MolGraph`` applied to molecule i's graph (atom masking)."""
        from chemprop.data import BatchMolGraph  # noqa: PLC0415
        from chemprop.featurizers import (  # noqa: PLC0415
            MultiHotAtomFeaturizer,
            SimpleMoleculeMolGraphFeaturizer,
        )
        from chemprop.utils import make_mol  # noqa: PLC0415

        if self._featurizer is None:
            atom = getattr(MultiHotAtomFeaturizer, self._featurizer_mode)()
            self._featurizer = SimpleMoleculeMolGraphFeaturizer(atom_featurizer=atom)
        mgs = [self._featurizer(make_mol(s, keep_h=False, add_h=False)) for s in smiles]
        if masks is not None:
            mgs = [m(g) for m, g in zip(masks, mgs, strict=True)]
        return BatchMolGraph(mgs)

    def depth_states(self, bmg: Any, n_steps: int) -> list[Any]:
        """Atom states after 0 .. ``n_steps`` hops, each (n_atoms_in_batch, hidden_dim).

        Runs chemprop's ``_MessagePassingBase.forward`` step by step with the model's own
        modules and finalises every step (state 0: all-zero message).
        """
        import torch  # noqa: PLC0415

        mp = self.mpnn.message_passing
        bmg = mp.graph_transform(bmg)
        n_atoms, V = bmg.V.shape[0], bmg.V
        out = [mp.finalize(torch.zeros(n_atoms, mp.W_h.out_features, dtype=V.dtype, device=V.device), V, None)]
        if n_steps == 0:
            return out
        H_0 = mp.initialize(bmg)
        H = mp.tau(H_0)
        index = bmg.edge_index[1].unsqueeze(1).repeat(1, H.shape[1])
        for step in range(1, n_steps + 1):
            if step > 1:  # chemprop's loop body, iteration step - 1
                if mp.undirected:
                    H = (H + H[bmg.rev_edge_index]) / 2
                M = mp.message(H, bmg)
                H = mp.update(M, H_0)
            M_v = torch.zeros(n_atoms, H.shape[1], dtype=H.dtype, device=H.device).scatter_reduce_(
                0, index, H, reduce="sum", include_self=False
            )
            out.append(mp.finalize(M_v, V, None))
        return out

    def _states(self, smiles: list[str], masks: list[Any] | None = None) -> tuple[Any, list[Any], list[Any]]:
        """``(bmg, atom_states, molecule_states)`` of one batch (see :meth:`depth_states`)."""
        bmg = self._graphs(smiles, masks)
        bmg.to(self.device)
        n_steps = min(self.num_layers, self.depth)
        atom_states = self.depth_states(bmg, n_steps)
        mols = [self.mpnn.bn(self.mpnn.agg(h, bmg.batch)) for h in atom_states]  # B, d_h each
        for j in range(1, self.num_layers - self.depth + 1):
            mols.append(self.mpnn.predictor.encode(mols[self.depth], j))  # B, d_ffn_j
        return bmg, atom_states, mols

    def _forward(self, smiles: list[str], masks: list[Any] | None = None) -> BatchStates:
        import torch  # noqa: PLC0415

        _, _, mols = self._states(smiles, masks)
        hidden = [m.unsqueeze(1) for m in mols]  # B, 1, d_k: one pooled vector per molecule
        mask = torch.ones(len(smiles), 1, dtype=torch.bool, device=self.device)
        return BatchStates(hidden=hidden, mask=mask, cls_index=0)

    def embed_augmented(
        self, smiles: list[str], *, kind: str = "atom_mask", seed: int = 0,
        pooling: str | None = None, fraction: float | None = None,
        mask_bonds: bool | None = None, batch_size: int | None = None,
    ) -> Any:
        """One atom-masked view of every molecule, every layer (the augmentation hook).

        chemprop models have no mask token: the atom features ``V`` of the masked atoms
        (:func:`~.graph_features.masked_atoms` of ``(n_atoms_i, fraction, seed, i)``, ``i``
        the molecule's position in ``smiles``) are set to zero, and with ``mask_bonds`` the
        bond features ``E`` of both directions of their bonds. ``fraction=0`` gives
        :meth:`embed`.

        Returns
        -------
        LayerEmbeddings with ``num_layers + 1`` arrays of shape (n_molecules, dim_k).
        """
        from molstrata.encoders.graph.graph_features import (  # noqa: PLC0415
            atom_mask_settings,
            embed_atom_masked,
            mask_arrays,
            masked_atoms,
        )

        frac, bonds = atom_mask_settings(self, kind, fraction, mask_bonds, seed)

        def masker(index: int) -> Any:
            def apply(mg: Any) -> Any:
                atoms = masked_atoms(len(mg.V), fraction=frac, seed=seed, index=index)
                if not len(atoms):
                    return mg
                V, E = mask_arrays(mg.V, mg.E, mg.edge_index, atoms, mask_bonds=bonds)
                return mg._replace(V=V, E=E)

            return apply

        def forward_rows(strings: list[str], rows: list[int]) -> BatchStates:
            return self._forward(strings, [masker(r) for r in rows])

        return embed_atom_masked(
            self, smiles, forward_rows, pooling=pooling, batch_size=batch_size,
            meta={"seed": int(seed), "fraction": frac, "mask_bonds": bonds},
        )

    def token_states(
        self,
        smiles: Any,
        *,
        batch_size: int | None = None,
        include_special: bool = False,
        canonicalize: bool = True,
        token_budget: int | None = None,
    ) -> list[list[Any]]:
        """Unpooled states: ``out[k][i]`` is molecule i's (n_atoms_i, hidden_dim) atom states.

        For the message-passing layers ``k <= depth`` these are the finalised atom states,
        atoms in the order of the fed SMILES, before ``agg``/``bn``. FFN layers have no atom
        states: there ``out[k][i]`` is the molecule's single (1, dim_k) vector.
        ``include_special`` and ``token_budget`` have no effect (no special tokens, no padding).
        """
        import numpy as np  # noqa: PLC0415
        import torch  # noqa: PLC0415

        from molstrata.data.smiles import parse_smiles  # noqa: PLC0415

        parsed = parse_smiles(smiles, on_invalid="raise")
        fed = self.fed_strings(parsed, canonicalize)
        bs = int(batch_size or self.max_batch_size)
        out: list[list[Any]] = [[] for _ in range(self.num_layers + 1)]
        with torch.inference_mode():
            for start in range(0, len(fed), bs):
                bmg, atoms, mols = self._states(fed[start : start + bs])
                counts = torch.bincount(bmg.batch, minlength=len(mols[0])).tolist()
                for k in range(self.num_layers + 1):
                    if k < len(atoms):
                        parts = torch.split(atoms[k].float().cpu(), counts)
                    else:
                        parts = mols[k].float().cpu().unsqueeze(1).unbind(0)
                    out[k].extend(np.ascontiguousarray(p.numpy()) for p in parts)
        return out


# ---------------------------------------------------------------------------- loaders


def _seeded_fresh(d: dict, seed: int, source: str) -> Any:
    import torch  # noqa: PLC0415, F401  (seed_everything seeds torch only once imported)

    from molstrata.core.seed import seed_everything  # noqa: PLC0415

    seed_everything(seed)
    return build_mpnn(d, source=source, load_weights=False)


def load_chemprop(
    path: str | Path,
    *,
    device: str | None = None,
    max_layer: int | None = None,
    random_init: bool = False,
    trust_remote_code: bool = False,
    trust_checkpoint: bool = False,
    seed: int = 0,
    name: str | None = None,
    **kw: Any,
) -> ChempropEncoder:
    """Load any chemprop v2 checkpoint (``chemprop:<path>``) as a per-depth encoder.

    Parameters
    ----------
    path : a chemprop v2 ``.pt`` model file or Lightning ``.ckpt``
    device : ``"cpu"``, ``"cuda"``...; default CUDA when available
    max_layer : keep layers ``0 .. max_layer`` (``<= depth``: fewer message-passing steps)
    random_init : the same architecture with fresh weights, seeded by ``seed``
    trust_remote_code : unused (a chemprop checkpoint ships no model code); accepted for the
        common signature. It does not allow the full unpickler: that is ``trust_checkpoint``
    trust_checkpoint : read the file with the full unpickler (legacy non-zip files, globals
        outside :data:`CHEMPROP_GLOBALS`): it runs any code in the file, trusted files only
    seed : seed for ``random_init``
    name : encoder name (default ``chemprop:<path>``)

    Returns
    -------
    ChempropEncoder whose ``embed`` gives ``num_layers + 1`` arrays (n_molecules, hidden_dim_k)
    """
    if kw:
        raise ConfigError(
            f"unknown option(s) for chemprop encoders: {', '.join(sorted(kw))}; valid: device, "
            "max_layer, random_init, trust_remote_code, trust_checkpoint, seed, name"
        )
    if not str(path).strip():
        raise ConfigError("chemprop encoder needs a checkpoint path: 'chemprop:<path-to-.pt>'")
    path = Path(path).expanduser()
    d = load_checkpoint_dict(path, trust_checkpoint=trust_checkpoint)
    source = str(path)
    mpnn = _seeded_fresh(d, seed, source) if random_init else build_mpnn(d, source=source)
    identity = {
        "source": source,
        "weights_sha256": file_sha256(path),
        "random_init": bool(random_init),
        "seed": int(seed) if random_init else None,
    }
    return ChempropEncoder(
        mpnn, name=name or f"chemprop:{path}", identity=identity, max_layer=max_layer,
        device=device,
    )


def load_admet_ai(
    *,
    device: str | None = None,
    max_layer: int | None = None,
    random_init: bool = False,
    trust_remote_code: bool = False,
    trust_checkpoint: bool = False,
    group: str = "regression",
    index: int = 0,
    seed: int = 0,
    **kw: Any,
) -> ChempropEncoder:
    """ADMET-AI's chemprop D-MPNN (``admet-ai``: the first regression model of the ensemble).

    Depth 3, 300-d, trained multitask on TDC ADMET data: probing it on TDC leaks labels
    (see :func:`admet_ai_card`). ``group``/``index`` pick another shipped model.
    """
    if kw:
        raise ConfigError(
            f"unknown option(s) for 'admet-ai': {', '.join(sorted(kw))}; valid: device, "
            "max_layer, random_init, trust_remote_code, trust_checkpoint, group, index, seed"
        )
    path = admet_ai_checkpoint(group, index)
    name = "admet-ai" if (group, index) == ("regression", 0) else f"admet-ai:{group}/{index}"
    return load_chemprop(
        path, device=device, max_layer=max_layer, random_init=random_init,
        trust_remote_code=trust_remote_code, trust_checkpoint=trust_checkpoint, seed=seed,
        name=name,
    )


def admet_ai_card() -> EncoderCard:
    """Model card of ``admet-ai``; ``weights_present`` says whether the wheel is installed."""
    try:
        present = admet_ai_checkpoint().is_file()
    except (OptionalDependencyError, DataNotFoundError):
        present = False
    return EncoderCard(
        name="admet-ai",
        kind="graph",
        num_layers=4,
        dims=[300, 300, 300, 300, 300],
        description=(
            "ADMET-AI's chemprop v2 D-MPNN (bond messages, depth 3, 300-d, norm aggregation, "
            "one 300-d FFN hidden layer): model_0 of its regression ensemble (10 tasks). "
            "Layer 0 = atoms read out with no message passing, layers 1-3 = after 1-3 hops "
            "(layer 3 = chemprop's fingerprint), layer 4 = the FFN hidden layer "
            "(chemprop's encoding(1), before activation)."
        ),
        source="https://github.com/swansonk14/admet_ai (chemprop v2 model, run by molstrata's "
        "per-depth loop over the model's own modules)",
        weights="admet_ai/resources/models/admet_regression/model_0.pt (in the admet-ai wheel)",
        how_to_get_weights=f"{ADMET_AI_PIP}  (no dependencies needed beyond chemprop v2)",
        verified="layer 3 equals chemprop's MPNN.fingerprint, layers 1-3 chemprop's forward at "
        "depth 1-3, layer 4 chemprop's encoding(1) (tests/encoders/test_chemprop.py)",
        license="MIT",
        trained_on=(
            "TDC ADMET datasets, all of their data (regression: Caco2_Wang, Clearance x2, "
            "Half_Life_Obach, FreeSolv, LD50_Zhu, Lipophilicity_AstraZeneca, PPBR_AZ, "
            "Solubility_AqSolDB, VDss_Lombardo)"
        ),
        warnings=[
            "Trained on TDC ADMET data, including molecules in the TDC ADMET group's test "
            "sets: probing it on TDC tasks leaks labels. Treat it as a reference point, not "
            "a fair competitor.",
            "Checkpoints are pickles: molstrata unpickles them with an exact allowlist of "
            "chemprop, torch and Lightning classes (CHEMPROP_GLOBALS); legacy (non-zip) files "
            "and other globals load only with trust_checkpoint=True (--trust-checkpoint).",
        ],
        extra=None,
        weights_present=present,
    )
