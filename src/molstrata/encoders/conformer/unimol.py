"""Uni-Mol v1 (Zhou et al. 2023) through ``unimol-tools``: every transformer layer.

The architecture is ``unimol_tools.models.unimol.UniMolModel`` exactly as published on PyPI
(``pip install unimol-tools``); molstrata only reads its layers. Inputs are one RDKit
conformer per molecule (:mod:`molstrata.data.conformers`), featurised with unimol-tools' own
``coords2unimol`` (tokens ``[CLS] atoms [SEP]``, centred coordinates, distances, edge types).

Layers: layer 0 is the token embedding after ``emb_layer_norm``; layer k (1..15) the output of
transformer block k. Uni-Mol applies a final LayerNorm after its last block; as for the
Hugging Face decoders, the full model's last layer includes it (so it equals unimol-tools'
``return_repr`` output) and a truncated model drops it (so its layers equal the full model's
first k + 1). Pooling: ``cls`` (Uni-Mol's molecule representation) or ``mean``/``max``/``sum``
over atoms ([CLS]/[SEP] excluded).

Hydrogens: ``remove_hs=False`` (default) uses the all-hydrogen checkpoint
``mol_pre_all_h_220816.pt``, ``remove_hs=True`` the heavy-atom one ``mol_pre_no_h_220816.pt``;
both read ``mol.dict.txt``. Molecules with more than ``max_atoms`` atoms are cut to their first
``max_atoms`` atoms (RDKit order: heavy atoms first), warned about and listed in
``meta["truncated_rows"]`` (unimol-tools samples atoms at random instead).

Uni-Mol2 (``version="v2"``, unimol-tools' ``UniMolV2Model``): heavy atoms only, featurised by
unimol-tools' ``mol2unimolv2``; layer 0 is the atom stream after the encoder's input
LayerNorm and layer k the atom stream after block k (no final norm). The pair stream is not
exposed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from molstrata.core.errors import (
    ConfigError,
    DataNotFoundError,
    check_choice,
)
from molstrata.encoders.base import BatchStates
from molstrata.encoders.card import EncoderCard
from molstrata.encoders.conformer.conformer3d import Conformer3DEncoder, layer_outputs
from molstrata.encoders.conformer.unimol_model import (
    INSTALL_HINT,
    _load_weights,
    _unimol_module,
    build_unimol_v1,
    build_unimol_v2,
    read_checkpoint,
    weight_dir,
)
from molstrata.encoders.smiles.hf import state_dict_sha256

__all__ = [  # the builders and the checkpoint reader stay importable from here
    "INSTALL_HINT", "UniMolEncoder", "UniMolV2Encoder", "build_unimol_v1", "build_unimol_v2",
    "load_unimol", "read_checkpoint", "unimol_card", "weight_dir",
]

WEIGHTS = {False: "mol_pre_all_h_220816.pt", True: "mol_pre_no_h_220816.pt"}
DICT_FILE = "mol.dict.txt"
NUM_LAYERS_V1 = 15
HIDDEN_V1 = 512


class UniMolEncoder(Conformer3DEncoder):
    """Every layer of a unimol-tools ``UniMolModel`` on RDKit conformers.

    Attributes
    ----------
    model : unimol_tools UniMolModel in ``eval()`` mode (possibly with fewer blocks)
    num_layers : int, blocks kept; ``embed`` returns ``num_layers + 1`` layers
    full_num_layers : int, blocks of the checkpoint
    final_norm : bool, whether the last layer includes Uni-Mol's final LayerNorm (full model)
    remove_hs : bool, heavy atoms only
    max_atoms : int, atoms kept per molecule
    """

    poolings = ("mean", "max", "sum", "cls")
    default_pooling = "cls"
    token_budget = 4096
    max_batch_size = 64

    def __init__(
        self, model: Any, *, name: str, full_num_layers: int, remove_hs: bool = False,
        max_atoms: int = 256, conformer_seed: int = 0, on_too_long: str = "warn",
        facts: dict[str, Any] | None = None, device: str | None = None,
    ) -> None:
        check_choice("on_too_long", on_too_long, ("warn", "raise"))
        self._setup(model, name=name, full_num_layers=full_num_layers, conformer_seed=conformer_seed,
                    facts=facts, device=device)
        self.num_layers = len(model.encoder.layers)
        self.final_norm = self.num_layers == self.full_num_layers
        self.remove_hs = bool(remove_hs)
        self.max_atoms = int(max_atoms)
        self.max_length = self.max_atoms + 2  # [CLS] atoms [SEP]
        self.on_too_long = on_too_long

    # ----------------------------------------------------------------- sizes and inputs
    def _sizes(self, smiles: list[str]) -> np.ndarray:
        from rdkit import Chem

        sizes = []
        for s in smiles:
            mol = Chem.MolFromSmiles(s)
            n = mol.GetNumAtoms() + (0 if self.remove_hs else sum(a.GetTotalNumHs() for a in mol.GetAtoms()))
            sizes.append(n + 2)
        return np.asarray(sizes, dtype=np.int64)

    def features(self, smiles: list[str]) -> tuple[list[dict[str, np.ndarray]], list[int]]:
        """unimol-tools features per molecule (``coords2unimol``) and the batch positions
        that were cut to ``max_atoms``."""
        from unimol_tools.data.conformer import coords2unimol

        self.prepare(smiles)
        feats, cut = [], []
        for j, s in enumerate(smiles):
            conf = self._conformers[s]
            if self.remove_hs:
                conf = conf.heavy()
            atoms, xyz = conf.symbols, conf.coords
            if len(atoms) > self.max_atoms:
                atoms, xyz = atoms[: self.max_atoms], xyz[: self.max_atoms]
                cut.append(j)
            feats.append(coords2unimol(atoms, xyz, self.model.dictionary, max_atoms=len(atoms),
                                       remove_hs=False))
        return feats, cut

    # ----------------------------------------------------------------------- forward
    def _forward(self, smiles: list[str]) -> BatchStates:

        feats, cut = self.features(smiles)
        batch, _ = self.model.batch_collate_fn([(f, None) for f in feats])
        batch = {k: v.to(self.device) for k, v in batch.items()}
        hidden = layer_outputs(self.model.encoder.emb_layer_norm, self.model.encoder.layers,
                               lambda: self.model(**batch, return_repr=True))
        if self.final_norm and self.model.encoder.final_layer_norm is not None:
            hidden[-1] = self.model.encoder.final_layer_norm(hidden[-1])
        tokens = batch["src_tokens"]
        d = self.model.dictionary
        special = (tokens == d.bos()) | (tokens == d.eos())
        mask = (tokens != d.pad()) & ~special
        return BatchStates(hidden=hidden, mask=mask, special=special, cls_index=0,
                           info={"truncated": cut})

    # ---------------------------------------------------------------- identity, cutting
    def _identity_fields(self) -> dict[str, Any]:
        return {
            "weights_sha256": state_dict_sha256(self.model),
            "dictionary": list(self.model.dictionary.symbols),
            "num_layers": self.num_layers, "full_num_layers": self.full_num_layers,
            "final_norm": self.final_norm, "remove_hs": self.remove_hs, "max_atoms": self.max_atoms,
        }

    def truncate(self, n_layers: int) -> UniMolEncoder:
        """A copy keeping the first ``n_layers`` blocks (no final norm unless all are kept)."""
        model = self._truncated_model(n_layers, self.model.encoder, "layers")
        return self._sharing_conformers(UniMolEncoder(
            model, name=self.name, full_num_layers=self.full_num_layers, remove_hs=self.remove_hs,
            max_atoms=self.max_atoms, conformer_seed=self.conformer_seed,
            on_too_long=self.on_too_long, facts=self._facts, device=str(self.device),
        ))


def load_unimol(
    version: str = "v1",
    *,
    path: str | Path | None = None,
    dict_path: str | Path | None = None,
    remove_hs: bool = False,
    device: str | None = None,
    max_layer: int | None = None,
    random_init: bool = False,
    seed: int = 0,
    conformer_seed: int = 0,
    max_atoms: int = 256,
    on_too_long: str = "warn",
    trust_checkpoint: bool = False,
    arch: dict[str, Any] | None = None,
    name: str | None = None,
    model_size: str = "84m",
    trust_remote_code: bool = False,
) -> UniMolEncoder | UniMolV2Encoder:
    """Load Uni-Mol as a :class:`UniMolEncoder`.

    Parameters
    ----------
    version : ``"v1"`` (Uni-Mol) or ``"v2"`` (Uni-Mol2, heavy atoms, sizes ``model_size``)
    path : the ``.pt`` checkpoint; default: unimol-tools' weight folder
        (``UNIMOL_WEIGHT_DIR``) / ``mol_pre_all_h_220816.pt`` (``mol_pre_no_h_220816.pt`` with
        ``remove_hs``)
    dict_path : its ``mol.dict.txt``; default: beside ``path``
    remove_hs : heavy atoms only (must match the checkpoint)
    max_layer : build with only the first ``max_layer`` blocks
    random_init : same architecture, weights drawn with ``seed``; no checkpoint read
    conformer_seed : RDKit embedding seed of the conformers
    max_atoms : atoms kept per molecule (unimol-tools' default: 256)
    trust_checkpoint : read a legacy (non-zip) checkpoint or one holding arbitrary Python
        objects with the full unpickler (runs code: trusted files only)
    arch : ``molecule_architecture()`` overrides (small test models)
    model_size : Uni-Mol2 size (``"84m"``, ``"164m"``, ``"310m"``, ``"570m"``, ``"1.1B"``);
        its checkpoint defaults to ``UNIMOL_WEIGHT_DIR/modelzoo/<size>/checkpoint.pt``
    trust_remote_code : unused (no remote code); accepted for the common signature
    """
    import torch

    check_choice("version", version, ("v1", "v2"))
    if version == "v2":
        _unimol_module()
        return _load_v2(model_size=model_size, path=path, device=device, max_layer=max_layer,
                        random_init=random_init, seed=seed, conformer_seed=conformer_seed,
                        trust_checkpoint=trust_checkpoint, arch=arch, name=name)
    _unimol_module()
    ckpt = Path(path) if path is not None else weight_dir() / WEIGHTS[bool(remove_hs)]
    dict_file = Path(dict_path) if dict_path is not None else ckpt.parent / DICT_FILE
    if not dict_file.is_file():
        raise DataNotFoundError(
            f"Uni-Mol token dictionary not found: {dict_file}. Download {DICT_FILE} and "
            f"{WEIGHTS[bool(remove_hs)]} from the dptech/Uni-Mol-Models hub repository into "
            "UNIMOL_WEIGHT_DIR, or pass path= and dict_path=."
        )
    full_layers = int((arch or {}).get("encoder_layers", NUM_LAYERS_V1))
    if max_layer is not None and not 1 <= int(max_layer) <= full_layers:
        raise ConfigError(f"max_layer={max_layer} is out of range: Uni-Mol v1 has {full_layers} blocks")
    state = None
    if not random_init:
        state = read_checkpoint(ckpt, trust_checkpoint=trust_checkpoint)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = build_unimol_v1(dict_file, remove_hs=remove_hs, num_layers=max_layer, arch=arch)
    if state is not None:
        _load_weights(model, state, str(ckpt))
    facts = {"source": str(ckpt) if not random_init else "random", "random_init": bool(random_init),
             "version": version}
    if random_init:
        facts["seed"] = int(seed)
    return UniMolEncoder(
        model, name=name or "unimol-v1", full_num_layers=full_layers, remove_hs=remove_hs,
        max_atoms=max_atoms, conformer_seed=conformer_seed, on_too_long=on_too_long,
        facts=facts, device=device,
    )


def unimol_card(version: str = "v1", model_size: str = "84m") -> EncoderCard:
    """Model card of Uni-Mol; ``weights_present`` looks in unimol-tools' weight folder."""
    if version == "v2":
        rel = "modelzoo/84M/checkpoint.pt"  # unimol-tools' MODEL_CONFIG_V2 path for 84m
        return EncoderCard(
            name="unimol2-84m", kind="3d", num_layers=12, dims=[768] * 13,
            description=(
                "Uni-Mol2 84M (Ji et al. 2024): 12 blocks with atom and pair streams, 768-wide "
                "atom stream, heavy atoms. Layer 0: atom stream after the input LayerNorm; "
                "layer k: after block k. Default pooling: CLS; mean over atoms also available."
            ),
            source="unimol-tools 0.1.6 on PyPI: unimol_tools.models.unimolv2.UniMolV2Model, unmodified",
            weights=f"dptech/Uni-Mol2: {rel}",
            how_to_get_weights=(
                f"download {rel} from the Hugging Face repository dptech/Uni-Mol2 into "
                f"UNIMOL_WEIGHT_DIR (keeping the {rel} path) or pass path=<checkpoint.pt>."
            ),
            verified=(
                "offline only, with random weights in unimol-tools' own UniMolV2Model (small "
                "config): layer count, shapes, determinism, truncation == full prefix, last "
                "layer CLS == UniMolV2Model(return_repr=True) (tests/encoders/conformer/test_unimol.py). "
                "Not yet run against the published checkpoint."
            ),
            license="MIT (unimol-tools); weights per the dptech/Uni-Mol2 model page",
            trained_on="about 884M conformers (Uni-Mol2 pretraining set)",
            warnings=["heavy atoms only; molecules are not cropped (unimol-tools samples 128 atoms)"],
            extra="unimol",
            weights_present=(weight_dir() / rel).is_file(),
        )
    d = weight_dir()
    present = (d / DICT_FILE).is_file() and (d / WEIGHTS[False]).is_file()
    return EncoderCard(
        name="unimol-v1",
        kind="3d",
        num_layers=NUM_LAYERS_V1,
        dims=[HIDDEN_V1] * (NUM_LAYERS_V1 + 1),
        description=(
            "Uni-Mol v1 (Zhou et al. 2023): SE(3)-invariant transformer over atoms and pairwise "
            "distances, 15 blocks, 512 wide, pretrained on 19M conformers (all-H checkpoint by "
            "default). Layer 0: atom embeddings; last layer includes the final LayerNorm. "
            "Default pooling: CLS; mean over atoms also available."
        ),
        source="unimol-tools 0.1.6 on PyPI: unimol_tools.models.unimol.UniMolModel, unmodified",
        weights=f"dptech/Uni-Mol-Models: {WEIGHTS[False]} (+ {DICT_FILE}); {WEIGHTS[True]} with remove_hs",
        how_to_get_weights=(
            f"download {WEIGHTS[False]} and {DICT_FILE} from the Hugging Face repository "
            "dptech/Uni-Mol-Models into a folder, set UNIMOL_WEIGHT_DIR to it (or pass path= and "
            "dict_path=). unimol-tools itself would download them on first use."
        ),
        verified=(
            "offline only, with random weights in unimol-tools' own UniMolModel class (small "
            "config): layer count, shapes, determinism, truncation == full prefix, and the last "
            "layer's CLS == UniMolModel(return_repr=True) (tests/encoders/conformer/test_unimol.py). "
            "Not yet run against the published checkpoint (no hub access on the build machine)."
        ),
        license="MIT (unimol-tools code and Uni-Mol weights, DP Technology)",
        trained_on="19M ZINC/ChEMBL molecules with RDKit conformers (denoising pretraining)",
        warnings=[
            "conformers come from molstrata's RDKit recipe (ETKDGv3 + MMFF), not unimol-tools' "
            "own; embeddings depend on the geometry",
            "unimol-tools' return_atomic_reprs keeps the [SEP] token as a last 'atom' (it filters "
            "ids 0-2 but [SEP] is 3); molstrata's mean pools atoms only",
        ],
        extra="unimol",
        weights_present=present,
    )


# ------------------------------------------------------------------------------ Uni-Mol2
NUM_LAYERS_V2 = {"84m": 12, "164m": 24, "310m": 32, "570m": 32, "1.1B": 64}
HIDDEN_V2 = {"84m": 768, "164m": 768, "310m": 1024, "570m": 1536, "1.1B": 1536}


class UniMolV2Encoder(Conformer3DEncoder):
    """Every layer of a unimol-tools ``UniMolV2Model`` (heavy atoms, RDKit conformers).

    Layer 0 is the atom stream after the encoder's input LayerNorm; layer k the atom stream
    after block k (Uni-Mol2 has no final norm, so truncation needs no special case). Positions:
    [CLS] then atoms; ``cls`` reads [CLS], ``mean``/``max``/``sum`` pool the atoms.
    """

    poolings = ("mean", "max", "sum", "cls")
    default_pooling = "cls"
    token_budget = 2048
    max_batch_size = 32

    def __init__(self, model: Any, *, name: str, model_size: str, full_num_layers: int,
                 conformer_seed: int = 0, facts: dict[str, Any] | None = None,
                 device: str | None = None) -> None:
        self._setup(model, name=name, full_num_layers=full_num_layers, conformer_seed=conformer_seed,
                    facts=facts, device=device)
        self.model_size = model_size
        self.num_layers = len(model.encoder.layers)
        self.max_length = None  # no atom limit (unimol-tools samples 128 atoms at random)

    def _size(self, smiles: str) -> int:
        from rdkit import Chem

        return Chem.MolFromSmiles(smiles).GetNumAtoms() + 1

    def features(self, smiles: list[str]) -> list[dict[str, Any]]:
        """unimol-tools' ``mol2unimolv2`` features per molecule (hydrogens removed)."""
        from rdkit import Chem
        from unimol_tools.data.conformer import mol2unimolv2

        self.prepare(smiles)
        feats = []
        for s in smiles:
            conf = self._conformers[s]
            mol = Chem.AddHs(Chem.MolFromSmiles(s))
            c = Chem.Conformer(mol.GetNumAtoms())
            for i, xyz in enumerate(conf.coords.astype(float)):
                c.SetAtomPosition(i, xyz.tolist())
            mol.AddConformer(c, assignId=True)
            feats.append(mol2unimolv2(mol, max_atoms=10**6, remove_hs=True))
        return feats

    def _forward(self, smiles: list[str]) -> BatchStates:
        import torch

        batch, _ = self.model.batch_collate_fn([(f, None) for f in self.features(smiles)])
        batch = {k: v.to(self.device) for k, v in batch.items()}
        hidden = layer_outputs(self.model.encoder.layer_norm, self.model.encoder.layers,
                               lambda: self.model(**batch, return_repr=True))
        atoms = batch["atom_mask"].bool()  # B, n_atoms
        first = torch.zeros(len(smiles), 1, dtype=torch.bool, device=self.device)
        mask = torch.cat([first, atoms], dim=1)  # B, 1 + n_atoms
        special = torch.cat([~first, torch.zeros_like(atoms)], dim=1)
        return BatchStates(hidden=hidden, mask=mask, special=special, cls_index=0)

    def _identity_fields(self) -> dict[str, Any]:
        return {"model_size": self.model_size, **super()._identity_fields()}

    def truncate(self, n_layers: int) -> UniMolV2Encoder:
        """A copy keeping the first ``n_layers`` blocks."""
        model = self._truncated_model(n_layers, self.model.encoder, "layers")
        return self._sharing_conformers(UniMolV2Encoder(
            model, name=self.name, model_size=self.model_size, full_num_layers=self.full_num_layers,
            conformer_seed=self.conformer_seed, facts=self._facts, device=str(self.device),
        ))


def _load_v2(*, model_size: str, path: str | Path | None, device: str | None,
             max_layer: int | None, random_init: bool, seed: int, conformer_seed: int,
             trust_checkpoint: bool, arch: dict[str, Any] | None, name: str | None) -> UniMolV2Encoder:
    import torch

    check_choice("model_size", model_size, tuple(NUM_LAYERS_V2))
    full = int((arch or {}).get("num_encoder_layers", NUM_LAYERS_V2[model_size]))
    if max_layer is not None and not 1 <= int(max_layer) <= full:
        raise ConfigError(f"max_layer={max_layer} is out of range: Uni-Mol2 {model_size} has {full} blocks")
    ckpt = None
    if not random_init:
        from unimol_tools.config import MODEL_CONFIG_V2

        ckpt = Path(path) if path is not None else weight_dir() / MODEL_CONFIG_V2["weight"][model_size]
        if not ckpt.is_file():
            raise DataNotFoundError(
                f"Uni-Mol2 checkpoint not found: {ckpt}. Download "
                f"{MODEL_CONFIG_V2['weight'][model_size]} from the dptech/Uni-Mol2 hub "
                "repository into UNIMOL_WEIGHT_DIR, or pass path=."
            )
    state = read_checkpoint(ckpt, trust_checkpoint=trust_checkpoint) if ckpt is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = build_unimol_v2(model_size, num_layers=max_layer, arch=arch)
    if state is not None:
        _load_weights(model, state, str(ckpt))
    facts = {"source": str(ckpt) if ckpt else "random", "random_init": bool(random_init), "version": "v2"}
    if random_init:
        facts["seed"] = int(seed)
    return UniMolV2Encoder(model, name=name or f"unimol2-{model_size}", model_size=model_size,
                           full_num_layers=full, conformer_seed=conformer_seed, facts=facts,
                           device=device)
