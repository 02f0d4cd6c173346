"""``analyze``: every label-free metric, per layer, for one encoder on one molecule set."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from molstrata.analysis.augment import augmented_views
from molstrata.analysis.cka import CKA_METHODS, cka_matrix
from molstrata.analysis.curvature import depth_curvature, trajectory_curvature
from molstrata.analysis.entropy import dataset_entropy, effective_rank, matrix_entropy
from molstrata.analysis.invariance import dime, infonce, lidar
from molstrata.analysis.recommend import recommend_layer
from molstrata.core.embeddings import LayerEmbeddings
from molstrata.core.errors import ConfigError, check_choice
from molstrata.core.paths import honours_use_cache
from molstrata.core.progress import progress as progress_bar
from molstrata.data.smiles import parse_smiles

#: every metric :func:`analyze` can compute, with its unit and whether it needs an encoder
METRICS: dict[str, tuple[str, bool]] = {
    "dataset_entropy": ("normalised matrix entropy of pooled embeddings, [0, 1]", False),
    "effective_rank": ("exp of the dataset matrix entropy (directions)", False),
    "token_entropy": ("normalised matrix entropy of a molecule's token states, mean, [0, 1]", True),
    "token_curvature": ("angle between consecutive token steps, mean, radians", True),
    "depth_curvature": ("angle between consecutive layer steps, mean, radians", False),
    "cka_final": ("linear CKA with the final layer, [0, 1]", False),
    "infonce_mi": ("InfoNCE MI lower bound between 2 views, nats", True),
    "lidar": ("entropy of the LDA spectrum over augmentations, nats", True),
    "dime": ("DiME between 2 views, nats", True),
}
TOKEN_METRICS = ("token_entropy", "token_curvature")
AUGMENT_METRICS = ("infonce_mi", "lidar", "dime")


@dataclass(frozen=True)
class DepthProfile:
    """The label-free metrics of every layer of one encoder on one molecule set.

    Attributes
    ----------
    encoder : str
    metrics : DataFrame in long format, one row per (layer, metric), columns
        ``encoder, layer, relative_depth, metric, value``
    cka : ndarray of shape (n_layers, n_layers), layer × layer CKA
    cka_method : ``"linear"``, ``"debiased"`` or ``"minibatch"``
    rows : ndarray of int, shape (n_molecules,), the analysed rows of the input (after the
        deterministic subsample)
    smiles : tuple of str, length n_molecules, the analysed SMILES (as given), row order
    notes : tuple of str, facts a reader needs (subsamples, skipped metrics and why)
    params : dict, every option used (written to ``config.toml``)
    """

    encoder: str
    metrics: pd.DataFrame
    cka: np.ndarray
    cka_method: str = "linear"
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    smiles: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return int(self.cka.shape[0])

    @property
    def n_molecules(self) -> int:
        return int(len(self.rows))

    def wide(self) -> pd.DataFrame:
        """Metrics as a table: index ``layer``, one column per metric (n_layers rows)."""
        table = self.metrics.pivot(index="layer", columns="metric", values="value")
        order = [m for m in METRICS if m in table.columns]
        return table[order]

    def cka_frame(self) -> pd.DataFrame:
        """The CKA matrix in long format: ``encoder, layer_i, layer_j, cka``."""
        i, j = np.meshgrid(np.arange(self.n_layers), np.arange(self.n_layers), indexing="ij")
        return pd.DataFrame(
            {
                "encoder": self.encoder,
                "layer_i": i.ravel(),
                "layer_j": j.ravel(),
                "cka": self.cka.ravel(),
            }
        )

    def recommend_layer(self, rule: str = "dataset_entropy") -> int:
        """The label-free layer recommendation (see :func:`recommend_layer`)."""
        return recommend_layer(self.metrics, rule=rule)


def _progress(show: bool, total: int, label: str):
    """The progress bar of one analysis (steps: metric groups), transient."""
    return progress_bar(label, total, show=show, transient=True)


def _embed(encoder: Any, smiles: list[str], pooling: str | None, progress: bool | None,
           use_cache: bool = True) -> LayerEmbeddings:
    """Pooled embeddings, through the on-disk cache when the embeddings stage provides it."""
    try:
        from molstrata.embeddings import embed_cached
    except ImportError:
        return encoder.embed(smiles, pooling=pooling, progress=progress)
    return embed_cached(encoder, smiles, pooling=pooling, progress=progress, use_cache=use_cache)


def _subsample(n: int, k: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a seeded sample of ``k`` rows out of ``n`` (all rows if k ≥ n)."""
    if k is None or k >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=int(k), replace=False))


@honours_use_cache
def analyze(
    encoder_or_embeddings: Any,
    smiles: Sequence[str] | None = None,
    *,
    pooling: str | None = None,
    max_molecules: int | None = 2000,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
    alpha: float = 1.0,
    token_molecules: int | None = 500,
    aug_molecules: int | None = 256,
    n_augmentations: int = 16,
    augmentation: str = "auto",
    mask_fraction: float | None = None,
    temperature: float = 0.1,
    delta: float = 1e-4,
    dime_permutations: int = 10,
    cka: str = "linear",
    progress: bool | None = None,
    source: str | None = None,
    use_cache: bool = True,
) -> DepthProfile:
    """Label-free information-flow analysis of every layer.

    Parameters
    ----------
    encoder_or_embeddings : an :class:`~molstrata.encoders.Encoder`, a registered encoder
        name, or a :class:`~molstrata.core.LayerEmbeddings` (pooled metrics only: token and
        augmentation metrics need the encoder)
    smiles : sequence of n_input SMILES (required with an encoder; ignored with embeddings).
        Invalid SMILES raise :class:`~molstrata.core.InvalidSmilesError` listing their rows.
    pooling : pooling passed to the encoder (its default when ``None``)
    max_molecules : analyse a seeded random subsample of at most this many molecules
    seed : seeds every subsample, augmentation and permutation
    metrics : subset of :data:`METRICS` (all by default)
    alpha : Rényi order of every entropy
    token_molecules : molecules (from the subsample) used for token entropy/curvature
    aug_molecules : molecules used for the augmentation metrics
    n_augmentations : views per molecule for LiDAR (InfoNCE and DiME use the first two)
    augmentation : ``"auto"``, ``"random_smiles"`` or ``"atom_mask"`` (see
        :mod:`molstrata.analysis.augment`)
    mask_fraction : fraction of atoms each ``atom_mask`` view hides (default: the encoder's
        ``atom_mask_fraction``, 15% for the built-in graph encoders)
    temperature, delta, dime_permutations : InfoNCE τ, LiDAR δ, DiME permutations
    cka : CKA estimator, one of :data:`~molstrata.analysis.cka.CKA_METHODS`
    progress : show a progress bar (default: when more than 200 molecules)
    source : where the SMILES come from, for error messages
    use_cache : ``False`` (``--no-cache``) neither reads nor writes the embeddings cache

    Returns
    -------
    DepthProfile with metrics for n_layers = ``encoder.num_layers + 1`` layers.
    """
    wanted = _wanted_metrics(metrics, cka, n_augmentations)
    notes: list[str] = []
    rng = np.random.default_rng(seed)
    encoder, emb, rows, name, all_smiles, wanted = _inputs(
        encoder_or_embeddings, smiles, wanted, pooling, max_molecules, seed, rng, progress,
        source, use_cache, notes,
    )
    opts = dict(
        max_molecules=max_molecules, seed=seed, alpha=alpha, pooling=pooling,
        token_molecules=token_molecules, aug_molecules=aug_molecules,
        n_augmentations=n_augmentations, augmentation=augmentation, mask_fraction=mask_fraction,
        temperature=temperature, delta=delta, dime_permutations=dime_permutations, cka=cka,
    )
    layers = [np.asarray(z, dtype=np.float64) for z in emb]
    show = progress if progress is not None else len(rows) > 200
    with _progress(show, 4, f"analysing {name}") as bar:
        values, cka_mat = _layer_metrics(layers, wanted, alpha, cka, seed, notes, bar)
        values_enc, aug_kind = _encoder_metrics(
            encoder, all_smiles, rows, len(layers), wanted, notes, bar, show, **opts
        )
        values.update(values_enc)
        bar.advance(1, "done")
    return DepthProfile(
        encoder=name, metrics=_metrics_table(name, values, len(layers)), cka=cka_mat,
        cka_method=cka, rows=np.asarray(rows), smiles=tuple(emb.smiles), notes=tuple(notes),
        params=_params(name, emb, encoder, wanted, aug_kind, len(rows), **opts),
    )


def _inputs(
    encoder_or_embeddings: Any, smiles: Sequence[str] | None, wanted: list[str],
    pooling: str | None, max_molecules: int | None, seed: int, rng: np.random.Generator,
    progress: bool | None, source: str | None, use_cache: bool, notes: list[str],
) -> tuple[Any, LayerEmbeddings, np.ndarray, str, list[str], list[str]]:
    """The molecules to analyse: (encoder or None, emb, rows (n,), name, all SMILES, wanted)."""
    encoder = None
    all_smiles: list[str] = []
    if isinstance(encoder_or_embeddings, str):
        from molstrata.encoders import load_encoder

        encoder_or_embeddings = load_encoder(encoder_or_embeddings)
    if isinstance(encoder_or_embeddings, LayerEmbeddings):
        emb, rows, name, wanted = _from_embeddings(
            encoder_or_embeddings, wanted, max_molecules, rng, notes
        )
    else:
        encoder = encoder_or_embeddings
        emb, rows, name, all_smiles = _from_encoder(
            encoder, smiles, pooling, max_molecules, rng, progress, source, use_cache, notes
        )
    n = len(rows)
    if n < 4:
        raise ConfigError(f"analysis needs at least 4 valid molecules, got {n}")
    if max_molecules is not None and encoder is not None and len(all_smiles) > max_molecules:
        notes.append(
            f"subsampled {n} of {len(all_smiles)} molecules (seed {seed}, --max-molecules)"
        )
    return encoder, emb, rows, name, all_smiles, wanted


def _params(
    name: str, emb: LayerEmbeddings, encoder: Any, wanted: list[str], aug_kind: str | None,
    n: int, *, max_molecules: int | None, seed: int, alpha: float, token_molecules: int | None,
    aug_molecules: int | None, n_augmentations: int, augmentation: str,
    mask_fraction: float | None, temperature: float, delta: float, dime_permutations: int,
    cka: str, **_: Any,
) -> dict:
    """The settings recorded in :attr:`DepthProfile.params`."""
    return {
        "encoder": name, "pooling": emb.pooling, "max_molecules": max_molecules, "seed": seed,
        "metrics": wanted, "alpha": alpha, "token_molecules": token_molecules,
        "aug_molecules": aug_molecules, "n_augmentations": n_augmentations,
        "augmentation": augmentation, "augmentation_used": aug_kind,
        "atom_mask_fraction": (
            (mask_fraction if mask_fraction is not None else getattr(encoder, "atom_mask_fraction", None))
            if aug_kind == "atom_mask" else None
        ),
        "temperature": temperature, "delta": delta,
        "dime_permutations": dime_permutations, "cka": cka, "n_molecules": n,
        "encoder_identity": _identity(encoder, emb),
    }


def _wanted_metrics(metrics: Sequence[str] | None, cka: str, n_augmentations: int) -> list[str]:
    """Check the metric names, the CKA estimator and the view count; the metrics to compute."""
    wanted = list(METRICS) if metrics is None else list(metrics)
    for m in wanted:
        check_choice("metric", m, list(METRICS))
    check_choice("cka", cka, CKA_METHODS)
    if n_augmentations < 2:
        raise ConfigError(f"n_augmentations must be at least 2, got {n_augmentations}")
    return wanted


def _from_embeddings(
    emb: LayerEmbeddings, wanted: list[str], max_molecules: int | None,
    rng: np.random.Generator, notes: list[str],
) -> tuple[LayerEmbeddings, np.ndarray, str, list[str]]:
    """Valid, subsampled rows of precomputed embeddings: (emb, rows (n,), name, wanted)."""
    valid = np.flatnonzero(emb.valid)
    if len(valid) < emb.n_molecules:
        bad = np.flatnonzero(~emb.valid)
        notes.append(
            f"{len(bad)} invalid rows excluded (rows {', '.join(map(str, bad[:10]))}"
            f"{'...' if len(bad) > 10 else ''})"
        )
    rows = valid[_subsample(len(valid), max_molecules, rng)]
    emb = emb.subset(rows)
    name = emb.encoder or "embeddings"
    skipped = [m for m in wanted if METRICS[m][1]]
    if skipped:
        notes.append(f"no encoder given: skipped {', '.join(skipped)} (they need the encoder)")
        wanted = [m for m in wanted if not METRICS[m][1]]
    return emb, rows, name, wanted


def _from_encoder(
    encoder: Any, smiles: Sequence[str] | None, pooling: str | None, max_molecules: int | None,
    rng: np.random.Generator, progress: bool | None, source: str | None, use_cache: bool,
    notes: list[str],
) -> tuple[LayerEmbeddings, np.ndarray, str, list[str]]:
    """Parse, subsample and embed: (emb of the n rows, rows (n,), name, all parsed SMILES)."""
    if smiles is None:
        raise ConfigError("analyze(encoder, smiles): smiles is required with an encoder")
    parsed = parse_smiles(list(smiles), on_invalid="raise", source=source)
    rows = _subsample(len(parsed.smiles), max_molecules, rng)
    name = getattr(encoder, "name", type(encoder).__name__)
    show = progress if progress is not None else len(rows) > 200
    with warnings.catch_warnings():  # reported below with input row numbers
        warnings.filterwarnings("ignore", message=".*longer than max_length.*")
        emb = _embed(encoder, [parsed.smiles[i] for i in rows], pooling, show, use_cache)
    cut = np.asarray(emb.meta.get("truncated_rows", []), dtype=np.int64)
    if len(cut):
        shown = ", ".join(str(int(r)) for r in rows[cut][:10])
        notes.append(
            f"{len(cut)} molecule(s) longer than the encoder's max_length were cut to it "
            f"(input rows {shown}{'...' if len(cut) > 10 else ''})"
        )
    return emb, rows, name, list(parsed.smiles)


def _layer_metrics(
    layers: list[np.ndarray], wanted: list[str], alpha: float, cka: str, seed: int,
    notes: list[str], bar: Any,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Pooled metrics of the (n, d_l) layers: ({metric: (n_layers,)}, CKA (n_layers, n_layers))."""
    values: dict[str, np.ndarray] = {}
    bar.advance(0, "dataset entropy")
    if "dataset_entropy" in wanted:
        values["dataset_entropy"] = dataset_entropy(layers, alpha=alpha, normalized=True)
    if "effective_rank" in wanted:
        values["effective_rank"] = np.array([effective_rank(z) for z in layers])
    bar.advance(1, "CKA and depth curvature")
    cka_mat = cka_matrix(layers, method=cka, seed=seed)
    if "cka_final" in wanted:
        values["cka_final"] = cka_mat[:, -1].copy()
    if "depth_curvature" in wanted:
        if len({z.shape[1] for z in layers}) == 1:
            values["depth_curvature"] = depth_curvature(layers)
        else:
            notes.append("depth curvature skipped: layer widths differ")
    return values, cka_mat


def _encoder_metrics(
    encoder: Any, all_smiles: list[str], rows: np.ndarray, n_layers: int, wanted: list[str],
    notes: list[str], bar: Any, show: bool, *, alpha: float, seed: int, pooling: str | None,
    token_molecules: int | None, aug_molecules: int | None, n_augmentations: int,
    augmentation: str, mask_fraction: float | None, temperature: float, delta: float,
    dime_permutations: int, **_: Any,
) -> tuple[dict[str, np.ndarray], str | None]:
    """Token and augmentation metrics (they need the encoder): ({metric: (n_layers,)}, kind)."""
    values: dict[str, np.ndarray] = {}
    aug_kind = None
    n = len(rows)
    bar.advance(1, "token states")
    if encoder is not None and any(m in wanted for m in TOKEN_METRICS):
        sub = rows[_subsample(n, token_molecules, np.random.default_rng(seed + 1))]
        with warnings.catch_warnings():  # the same cut molecules as noted above
            warnings.filterwarnings("ignore", message=".*longer than max_length.*")
            values.update(
                _token_metrics(encoder, [all_smiles[i] for i in sub], wanted, alpha, n_layers)
            )
        if len(sub) < n:
            notes.append(f"token metrics on {len(sub)} of the {n} molecules (--token-molecules)")
    bar.advance(1, "augmentations")
    if encoder is not None and any(m in wanted for m in AUGMENT_METRICS):
        sub = rows[_subsample(n, aug_molecules, np.random.default_rng(seed + 2))]
        aug, aug_notes = augmented_views(
            encoder, [all_smiles[i] for i in sub], n_views=n_augmentations, seed=seed,
            pooling=pooling, augmentation=augmentation, progress=show,
            mask_fraction=mask_fraction,
        )
        aug_kind = aug.kind
        notes.extend(aug_notes)
        notes.append(
            f"augmentation metrics: {aug.kind}, {len(sub)} molecules x {n_augmentations} views "
            f"(InfoNCE and DiME use views 1-2; tau={temperature}, delta={delta})"
        )
        values.update(
            _augment_metrics(aug, wanted, alpha, temperature, delta, dime_permutations, seed)
        )
    return values, aug_kind


def _metrics_table(name: str, values: dict[str, np.ndarray], n_layers: int) -> pd.DataFrame:
    """Long table: one row per (metric, layer), metrics in :data:`METRICS` order."""
    depth = np.linspace(0.0, 1.0, n_layers) if n_layers > 1 else np.zeros(1)
    frames = [
        pd.DataFrame(
            {"encoder": name, "layer": np.arange(n_layers), "relative_depth": depth,
             "metric": m, "value": np.asarray(values[m], dtype=np.float64)}
        )
        for m in METRICS
        if m in values
    ]
    return pd.concat(frames, ignore_index=True)


def _identity(encoder: Any, emb: LayerEmbeddings) -> dict:
    """What defines the encoder's outputs (weights hash, revision...), for ``config.toml``."""
    ident = emb.meta.get("identity") if isinstance(emb.meta, dict) else None
    if ident is None and encoder is not None and hasattr(encoder, "identity"):
        ident = encoder.identity()
    return {str(k): (v if isinstance(v, (str, int, float, bool)) else str(v))
            for k, v in (ident or {}).items() if v is not None}


def _token_metrics(
    encoder: Any, smiles: list[str], wanted: list[str], alpha: float, n_layers: int,
    chunk: int = 64,
) -> dict[str, np.ndarray]:
    """Token entropy and curvature per layer, streamed in chunks of molecules."""
    ent: list[list[float]] = [[] for _ in range(n_layers)]
    curv: list[list[float]] = [[] for _ in range(n_layers)]
    for start in range(0, len(smiles), chunk):
        states = encoder.token_states(smiles[start : start + chunk])
        for k, per_mol in enumerate(states):
            for s in per_mol:
                if s.shape[0] >= 2 and "token_entropy" in wanted:
                    ent[k].append(matrix_entropy(s, alpha, normalized=True))
                if s.shape[0] >= 3 and "token_curvature" in wanted:
                    c = trajectory_curvature(s)
                    if np.isfinite(c):
                        curv[k].append(c)
    out = {}
    if "token_entropy" in wanted:
        out["token_entropy"] = np.array([np.mean(e) if e else np.nan for e in ent])
    if "token_curvature" in wanted:
        out["token_curvature"] = np.array([np.mean(c) if c else np.nan for c in curv])
    return out


def _augment_metrics(
    aug: Any, wanted: list[str], alpha: float, temperature: float, delta: float,
    dime_permutations: int, seed: int,
) -> dict[str, np.ndarray]:
    """InfoNCE, LiDAR and DiME per layer from augmented views (NaN when views are identical)."""
    n_layers = len(aug.layers)
    out = {m: np.full(n_layers, np.nan) for m in AUGMENT_METRICS if m in wanted}
    if aug.identical:
        return out
    for k, z in enumerate(aug.layers):
        z = z.astype(np.float64)
        if "infonce_mi" in out:
            out["infonce_mi"][k] = infonce(z[:, 0], z[:, 1], temperature)
        if "lidar" in out:
            out["lidar"][k] = lidar(z, delta=delta, alpha=alpha)
        if "dime" in out:
            out["dime"][k] = dime(z[:, 0], z[:, 1], alpha=alpha, n_permutations=dime_permutations, seed=seed)
    return out


__all__ = ["METRICS", "DepthProfile", "analyze"]
