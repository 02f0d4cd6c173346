"""Apply a probe run's saved predictors to new molecules (``molstrata predict``).

:func:`load_predictor` reads ``<run>/models/<task>/seed<s>/`` (:mod:`molstrata.runs.predictors`),
loads the encoder the run probed (or takes one) and refuses it when its identity is not the
one the predictors were fitted on. :meth:`Predictor.predict` embeds through the embeddings
cache with the run's pooling, and averages the seeds' predictions (probabilities for
classification), or uses one seed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from molstrata.core.errors import ConfigError
from molstrata.core.threads import fixed_threads
from molstrata.runs.predictors import MODELS, PREDICTOR_FILE, combine, probe_inputs, read_predictor


class EncoderMismatchError(ConfigError):
    """The encoder given to a predictor is not the one it was fitted on."""


@dataclass(frozen=True)
class PredictionTable:
    """Predictions for n input molecules, in input order.

    Attributes
    ----------
    smiles : tuple of str (n,)
    y_pred : ndarray (n,), values (regression) or 0/1 labels (classification); NaN where invalid
    y_proba : ndarray (n,) of probabilities of class 1 (classification), or None
    reasons : tuple of str (n,), why a row got no prediction ("" where it got one)
    """

    smiles: tuple[str, ...]
    y_pred: np.ndarray
    y_proba: np.ndarray | None
    reasons: tuple[str, ...]

    @property
    def invalid(self) -> np.ndarray:
        """Rows without a prediction (0-based), shape (n_invalid,)."""
        return np.flatnonzero([bool(r) for r in self.reasons])


class Predictor:
    """The saved predictors of one task of a probe run (one per seed), ready to predict.

    Attributes
    ----------
    task, task_type, metric, strategy : str
    seeds : tuple of int, the seeds averaged (or the one chosen)
    encoder : the loaded Encoder; pooling : str
    """

    def __init__(self, folder: Path, members: list[tuple[dict, Any]], encoder: Any, *,
                 use_cache: bool = True, batch_size: int | None = None):
        first = members[0][0]
        self.folder = folder
        self.members = members
        self.encoder = encoder
        self.task = str(first["task"])
        self.task_type = str(first["task_type"])
        self.metric = str(first["metric"])
        self.strategy = str(first["strategy"])
        self.pooling = str(first["pooling"])
        self.seeds = tuple(int(doc["seed"]) for doc, _ in members)
        self.use_cache = use_cache
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return (f"Predictor(task={self.task!r}, encoder={self.encoder.name!r}, strategy={self.strategy!r}, "
                f"seeds={list(self.seeds)})")

    def predict_table(self, smiles: Sequence[str]) -> PredictionTable:
        """Embed ``smiles`` (n) and predict; invalid rows stay in place with a reason."""
        from molstrata.data.smiles import parse_smiles
        from molstrata.embeddings import embed_cached

        smiles = [str(s) for s in smiles]
        parsed = parse_smiles(smiles, on_invalid="mask")
        reasons = [parsed.invalid_reasons.get(i, "") for i in range(len(smiles))]
        proba = np.full(len(smiles), np.nan)
        if parsed.valid.any():
            emb = embed_cached(self.encoder, smiles, pooling=self.pooling, on_invalid="mask",
                               batch_size=self.batch_size, use_cache=self.use_cache, progress=False)
            ok = np.asarray(emb.valid, dtype=bool)
            for i in np.flatnonzero(~ok):
                reasons[i] = reasons[i] or "the encoder could not embed it"
            if ok.any():
                layers = [np.asarray(x[ok], dtype=np.float32) for x in emb.layers]
                with fixed_threads():  # the thread count the run's own test predictions used
                    preds = [combine(probe.predict(probe_inputs(layers, doc["combination"])), doc["combination"])
                             for doc, probe in self.members]
                proba[ok] = preds[0] if len(preds) == 1 else np.mean(np.stack(preds), axis=0)
        if self.task_type == "classification":
            labels = np.where(np.isnan(proba), np.nan, (proba >= 0.5).astype(np.float64))
            return PredictionTable(tuple(smiles), labels, proba, tuple(reasons))
        return PredictionTable(tuple(smiles), proba, None, tuple(reasons))

    def predict(self, smiles: Sequence[str]) -> np.ndarray:
        """Predictions (n,): values for regression, 0/1 labels for classification (NaN for
        rows that could not be embedded)."""
        return self.predict_table(smiles).y_pred

    def predict_proba(self, smiles: Sequence[str]) -> np.ndarray:
        """Probabilities of class 1 (n,) (classification tasks only; NaN for invalid rows)."""
        if self.task_type != "classification":
            raise ConfigError(f"task {self.task} is a regression task; use predict")
        return self.predict_table(smiles).y_proba


def _task_folder(run_dir: Path, task: str | None, encoder_name: str | None) -> Path:
    models = run_dir / MODELS
    if not models.is_dir():
        raise ConfigError(f"--model {run_dir}: no {MODELS}/ folder; it is not a probe run folder, or "
                          "was written before predictors were saved (rerun molstrata probe)")
    roots = [models]
    if not any(models.glob(f"*/seed*/{PREDICTOR_FILE}")):  # several encoders: models/<encoder>/
        names = sorted(p.name for p in models.iterdir() if p.is_dir())
        if encoder_name is None:
            if len(names) != 1:
                raise ConfigError(f"--model {run_dir} holds predictors of several encoders "
                                  f"({', '.join(names)}); choose one with --encoder")
            encoder_name = names[0]
        from molstrata.probe.outputs import slug

        roots = [models / slug(encoder_name)]
        if not roots[0].is_dir():
            raise ConfigError(f"--encoder {encoder_name}: no predictors of it in {models} "
                              f"(encoders there: {', '.join(names)})")
    tasks = sorted(d.name for d in roots[0].iterdir() if d.is_dir() and any(d.glob(f"seed*/{PREDICTOR_FILE}")))
    if not tasks:
        raise ConfigError(f"--model {run_dir}: no saved predictor in {roots[0]}")
    if task is None:
        if len(tasks) != 1:
            raise ConfigError(f"--model {run_dir} holds predictors for tasks {', '.join(tasks)}; choose one with --task")
        task = tasks[0]
    if task not in tasks:
        raise ConfigError(f"--task {task}: no saved predictor in {run_dir}; tasks there: {', '.join(tasks)}")
    return roots[0] / task


def check_identity(encoder: Any, doc: dict, where: Path) -> None:
    """Refuse ``encoder`` unless its identity hash is the one ``doc`` was fitted on."""
    from molstrata.runs._record import encoder_identity

    want = doc["encoder"]
    got = encoder_identity(encoder)
    if got == want["identity"]:
        return
    fields = json.loads(json.dumps(encoder.identity(), sort_keys=True, default=str))
    old = want.get("fields") or {}
    diff = [k for k in sorted(set(fields) | set(old)) if fields.get(k) != old.get(k)]
    raise EncoderMismatchError(
        f"{where}: fitted on encoder {want['name']!r} (identity {want['identity'][:12]}), but the encoder "
        f"given is {encoder.name!r} (identity {got[:12]}; differs in {', '.join(diff) or 'its identity'}); "
        "predict with the encoder the run probed")


def load_predictor(
    run_dir: str | Path, task: str | None = None, *, seed: int | None = None, encoder: Any = None,
    device: str | None = None, trust_checkpoint: bool = False, use_cache: bool = True,
    batch_size: int | None = None, trust_remote_code: bool = False,
) -> Predictor:
    """The saved predictor of ``task`` in the probe run ``run_dir``.

    Parameters
    ----------
    run_dir : a ``molstrata probe`` run folder (with ``models/``)
    task : the task's name; may be left out when the run has one task
    seed : use this seed's predictor; default: every seed's, averaged (a seed ensemble)
    encoder : an Encoder, a registered name or a model folder; default: the one the run was
        given. Refused (:class:`EncoderMismatchError`) when its identity differs from the
        one the predictors were fitted on
    device, trust_checkpoint, trust_remote_code : passed to
        :func:`~molstrata.encoders.load_encoder`
    use_cache, batch_size : passed to :func:`~molstrata.embeddings.embed_cached`

    Returns
    -------
    Predictor, with ``.predict(smiles) -> (n,)`` (and ``.predict_proba`` for classification)
    """
    run_dir = Path(run_dir)
    if isinstance(encoder, str):
        from molstrata.encoders import load_encoder

        encoder = load_encoder(encoder, device=device, trust_checkpoint=trust_checkpoint,
                               trust_remote_code=trust_remote_code)
    folder = _task_folder(run_dir, task, getattr(encoder, "name", None))
    seed_dirs = sorted((p for p in folder.glob("seed*") if (p / PREDICTOR_FILE).is_file()),
                       key=lambda p: int(p.name[4:]) if p.name[4:].isdigit() else -1)
    if seed is not None:
        seed_dirs = [p for p in seed_dirs if p.name == f"seed{int(seed)}"]
        if not seed_dirs:
            raise ConfigError(f"--seed {seed}: no predictor of that seed in {folder}")
    members = [read_predictor(p) for p in seed_dirs]
    first = members[0][0]
    if encoder is None:
        ref = first["encoder"].get("ref")
        if not ref:
            raise ConfigError(f"{folder}: the run was given an Encoder object, not a name or folder; "
                              "pass the same encoder (encoder=... / --encoder)")
        encoder = ref
    if isinstance(encoder, str):
        from molstrata.encoders import load_encoder

        encoder = load_encoder(encoder, device=device, trust_checkpoint=trust_checkpoint,
                               trust_remote_code=trust_remote_code)
    for doc, _ in members:
        check_identity(encoder, doc, folder / f"seed{doc['seed']}")
    return Predictor(folder, members, encoder, use_cache=use_cache, batch_size=batch_size)



def prediction_frame(table: PredictionTable, ids: Sequence[Any] | None = None) -> Any:
    """``id, smiles, y_pred[, y_proba], reason`` (input order; empty predictions where invalid).

    ``id`` is ``ids`` or the data row number (1 = the first row below the header).
    """
    import pandas as pd

    n = len(table.smiles)
    cols: dict[str, Any] = {"id": list(ids) if ids is not None else list(range(1, n + 1)),
                            "smiles": list(table.smiles)}
    if table.y_proba is not None:
        cols["y_pred"] = pd.array([None if np.isnan(v) else int(v) for v in table.y_pred], dtype="Int64")
        cols["y_proba"] = table.y_proba
    else:
        cols["y_pred"] = table.y_pred
    cols["reason"] = list(table.reasons)
    return pd.DataFrame(cols)


def predict_csv(
    run_dir: str | Path, input_csv: str | Path, out: str | Path, *, task: str | None = None,
    smiles_col: str | None = None, id_col: str | None = None, seed: int | None = None,
    encoder: Any = None, device: str | None = None, trust_checkpoint: bool = False,
    use_cache: bool = True, batch_size: int | None = None, trust_remote_code: bool = False,
) -> tuple[Predictor, PredictionTable]:
    """Predict every row of ``input_csv`` with the run's saved predictor; write ``out``
    (:func:`prediction_frame`). Returns the predictor and its predictions."""
    from molstrata.core.files import atomic_write
    from molstrata.data.user_csv import read_smiles_csv

    smiles, ids, _ = read_smiles_csv(input_csv, smiles_col, id_col)
    predictor = load_predictor(run_dir, task, seed=seed, encoder=encoder, device=device,
                               trust_checkpoint=trust_checkpoint, use_cache=use_cache,
                               batch_size=batch_size, trust_remote_code=trust_remote_code)
    table = predictor.predict_table(smiles)
    atomic_write(Path(out), prediction_frame(table, ids).to_csv(index=False), cache=False)
    return predictor, table
