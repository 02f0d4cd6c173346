"""Molecular augmentations for the invariance metrics, and the encoder hook that runs them.

Two augmentations are known:

* ``"random_smiles"`` — randomised (non-canonical) SMILES of the same molecule (RDKit
  ``MolToRandomSmilesVect``, seeded). Meaningful for sequence encoders, which see a
  different token string. Graph encoders build the same graph from every spelling, so their
  views would be identical: :func:`augmented_views` detects that and says so.
* ``"atom_mask"`` — atom/bond attribute masking (Hu et al. 2020), which only a graph
  encoder can apply to its own featurisation. Each view hides ``int(n_atoms * fraction + 1)``
  atoms (15% by default, at least one) chosen from a generator seeded by (view seed,
  molecule index), so a view does not depend on batching. The built-in GINE, MiniMol and
  chemprop models have no mask token (none was pretrained by masking): a masked atom's
  input features are set to zero (and optionally those of its bonds), a documented stand-in
  that keeps the graph and gives distinct-but-related views
  (:func:`molstrata.encoders.graph.graph_features.masked_atoms`).

**Hook.** An encoder declares what it supports with a class attribute
``augmentations: tuple[str, ...]`` (for example ``("atom_mask",)`` on a GIN) and, for any
kind other than ``"random_smiles"``, implements
``embed_augmented(smiles, *, kind, seed, pooling) -> LayerEmbeddings`` returning one
augmented view (one row per input SMILES, same layers as ``embed``); an atom-masking hook
may also accept ``fraction=`` (passed only when the caller sets one). Implemented by
:class:`~molstrata.encoders.graph.gin.GraphEncoder` (``molstrata-graph``),
:class:`~molstrata.encoders.graph.minimol.MiniMolEncoder` and
:class:`~molstrata.encoders.graph.chemprop.ChempropEncoder`. An encoder that declares nothing is
treated as a sequence encoder (``("random_smiles",)``), fed randomised SMILES through
``embed(..., canonicalize=False)``; a graph encoder without the hook (Uni-Mol, Orb...) then
gives identical views, which :func:`augmented_views` detects and reports.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from molstrata.core.errors import ConfigError, check_choice
from molstrata.data.smiles import parse_smiles

AUGMENTATIONS = ("random_smiles", "atom_mask")


def randomized_smiles(smiles: Sequence[str], n_views: int, seed: int = 0) -> list[list[str]]:
    """``n_views`` randomised SMILES of each molecule.

    Parameters
    ----------
    smiles : sequence of n_molecules valid SMILES
    n_views : views per molecule
    seed : base seed; molecule i uses ``seed + i`` so results do not depend on batching

    Returns
    -------
    list of n_molecules lists of n_views strings; each parses to the input molecule (views
    may repeat for very small molecules, which have few spellings).
    """
    from rdkit import Chem


    parsed = parse_smiles(smiles, on_invalid="raise")
    out = []
    for i, s in enumerate(parsed.smiles):
        mol = Chem.MolFromSmiles(s)
        out.append(list(Chem.MolToRandomSmilesVect(mol, int(n_views), randomSeed=int(seed) + i)))
    return out


def supported_augmentations(encoder: Any) -> tuple[str, ...]:
    """The augmentations ``encoder`` declares (``encoder.augmentations``), else random SMILES."""
    declared = getattr(encoder, "augmentations", None)
    return tuple(declared) if declared is not None else ("random_smiles",)


def resolve_augmentation(encoder: Any, augmentation: str = "auto") -> tuple[str, list[str]]:
    """Pick the augmentation to run; returns it and notes for the report.

    ``"auto"`` prefers random SMILES when the encoder supports it, else the first declared
    kind. Asking for an unsupported kind raises :class:`ConfigError` listing the supported.
    """
    check_choice("augmentation", augmentation, ("auto", *AUGMENTATIONS))
    supported = supported_augmentations(encoder)
    notes: list[str] = []
    if augmentation == "auto":
        if not supported:
            raise ConfigError(f"encoder {getattr(encoder, 'name', encoder)!r} declares no augmentation")
        kind = "random_smiles" if "random_smiles" in supported else supported[0]
        if getattr(encoder, "augmentations", None) is None:
            notes.append(
                "encoder declares no augmentations; assumed a sequence encoder and fed it "
                "randomised SMILES"
            )
        return kind, notes
    if augmentation not in supported:
        raise ConfigError(
            f"encoder {getattr(encoder, 'name', encoder)!r} does not support augmentation "
            f"{augmentation!r}; supported: {', '.join(supported) or 'none'}"
        )
    return augmentation, notes


@dataclass(frozen=True)
class AugmentedViews:
    """Pooled embeddings of ``n_views`` augmentations of the same molecules.

    Attributes
    ----------
    layers : list of n_layers arrays, each (n_molecules, n_views, dim_k), float32
    kind : the augmentation used
    identical : True when every view equals every other (the encoder ignores this
        augmentation, e.g. a graph encoder fed randomised SMILES)
    frac_identical : fraction of molecules whose views are all equal at every layer
    """

    layers: list[np.ndarray]
    kind: str
    identical: bool
    frac_identical: float = 0.0


def augmented_views(
    encoder: Any,
    smiles: Sequence[str],
    *,
    n_views: int = 16,
    seed: int = 0,
    pooling: str | None = None,
    augmentation: str = "auto",
    progress: bool | None = None,
    mask_fraction: float | None = None,
) -> tuple[AugmentedViews, list[str]]:
    """Embed ``n_views`` augmentations of each molecule with ``encoder``.

    Parameters
    ----------
    encoder : an :class:`~molstrata.encoders.Encoder`
    smiles : sequence of n_molecules valid SMILES
    n_views : augmentations per molecule (≥ 2)
    seed : seeds the augmentations
    pooling : pooling passed to the encoder
    augmentation : ``"auto"``, ``"random_smiles"`` or ``"atom_mask"``
    mask_fraction : fraction of atoms each ``atom_mask`` view hides (default: the
        encoder's ``atom_mask_fraction``); ignored for ``random_smiles``

    Returns
    -------
    (AugmentedViews, notes) — notes are human-readable facts for the report.
    """
    if n_views < 2:
        raise ConfigError(f"n_views must be at least 2, got {n_views}")
    kind, notes = resolve_augmentation(encoder, augmentation)
    n = len(smiles)
    if kind == "random_smiles":
        layers = _smiles_views(encoder, smiles, n_views, seed, pooling, progress, notes)
    else:
        layers = _input_views(encoder, smiles, kind, n_views, seed, pooling, mask_fraction, notes)
    identical, frac = _identical_views(layers, n, kind, n_views, notes)
    return AugmentedViews(layers=layers, kind=kind, identical=identical, frac_identical=frac), notes


def _smiles_views(
    encoder: Any, smiles: Sequence[str], n_views: int, seed: int, pooling: str | None,
    progress: bool | None, notes: list[str],
) -> list[np.ndarray]:
    """Embed ``n_views`` randomised SMILES of each molecule: per layer (n, n_views, d)."""
    n = len(smiles)
    views = randomized_smiles(smiles, n_views, seed)
    flat = [views[i][v] for i in range(n) for v in range(n_views)]
    with warnings.catch_warnings():  # counted in the notes instead
        warnings.filterwarnings("ignore", message=".*longer than max_length.*")
        emb = encoder.embed(flat, pooling=pooling, canonicalize=False, progress=progress)
    n_cut = int(emb.meta.get("n_truncated", 0))
    if n_cut:
        notes.append(
            f"{n_cut} of {len(flat)} randomised SMILES views were longer than the encoder's "
            "max_length and were cut to it"
        )
    return [np.asarray(z, dtype=np.float32).reshape(n, n_views, -1) for z in emb]


def _input_views(
    encoder: Any, smiles: Sequence[str], kind: str, n_views: int, seed: int, pooling: str | None,
    mask_fraction: float | None, notes: list[str],
) -> list[np.ndarray]:
    """Embed ``n_views`` encoder-side augmentations (e.g. ``atom_mask``) of each molecule:
    per layer (n, n_views, d)."""
    extra = {"fraction": float(mask_fraction)} if mask_fraction is not None and kind == "atom_mask" else {}
    per_view = [
        encoder.embed_augmented(list(smiles), kind=kind, seed=seed * 1000 + v, pooling=pooling, **extra)
        for v in range(n_views)
    ]
    if kind == "atom_mask":
        frac = per_view[0].meta.get("fraction", mask_fraction) if per_view else mask_fraction
        bonds = per_view[0].meta.get("mask_bonds") if per_view else None
        if frac is not None:
            notes.append(
                f"atom_mask views: {100 * float(frac):.0f}% of each molecule's atoms (at least one) "
                f"masked per view by zeroing their input features"
                + (" and those of their bonds" if bonds else "")
                + "; views seeded by (seed, molecule index)"
            )
    return [
        np.stack([np.asarray(e[k], dtype=np.float32) for e in per_view], axis=1)
        for k in range(len(per_view[0]))
    ]


def _identical_views(
    layers: list[np.ndarray], n: int, kind: str, n_views: int, notes: list[str],
) -> tuple[bool, float]:
    """Whether every molecule's views embed identically in every layer, and the fraction of
    molecules whose do (with a note when most or all do)."""
    same = np.ones(n, dtype=bool)
    for z in layers:
        tol = 1e-5 * np.abs(z).max(axis=(1, 2)) + 1e-7
        same &= np.abs(z - z[:, :1, :]).max(axis=(1, 2)) <= tol
    frac = float(same.mean()) if n else 1.0
    identical = bool(same.all())
    if not identical and frac >= 0.5:
        notes.append(
            f"{kind} views were identical for {100 * frac:.0f}% of the molecules: the encoder is "
            "nearly invariant to this augmentation (a graph encoder?); the invariance metrics "
            "only reflect the other molecules' differences (for example RDKit chirality tags, "
            "which depend on atom order) and are not comparable with sequence encoders"
        )
    if identical:
        notes.append(
            f"all {n_views} {kind} views of each molecule gave identical embeddings: the encoder "
            "is invariant to this augmentation (a graph encoder fed randomised SMILES?), so the "
            "invariance metrics carry no information and are reported as NaN"
        )
    return identical, frac
