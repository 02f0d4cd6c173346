"""The steps of :func:`molstrata.probe.probe`: a frozen probe on every layer for one task and
one seed, the layer chosen on validation, test scored once afterwards.

The flow is split in two so that it can be read (and tested) as validation-only:

1. :func:`fit_layers` sees the train and valid parts (and the test **rows**, never their
   labels): it fits one probe per layer on train, tunes it on valid, and returns, per layer,
   the validation score, the chosen hyperparameter and the test predictions;
2. :func:`assemble` chooses the layer with :func:`~molstrata.probe.selection.select_layer`
   from the validation scores, and only then reads the test labels to score every layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molstrata.core.embeddings import LayerEmbeddings
from molstrata.core.errors import ConfigError
from molstrata.data import evaluate
from molstrata.probe.estimators import PROBES, make_probe
from molstrata.probe.selection import select_layer

__all__ = ["PROBES", "LayerCell", "LayerScores", "ProbeData", "assemble", "fit_layers", "make_probe",
           "prepare"]


@dataclass(frozen=True)
class LayerCell:
    """One layer's probe result before selection (no test label involved).

    Attributes
    ----------
    valid_score : float, the validation score (task metric)
    param : float, the hyperparameter chosen on valid (alpha, C, epochs, trees, or the tuned
        heads' grid index)
    test_pred : ndarray (n_test,), predictions on the test rows (NaN-free)
    fitted : ``(layers, (meta, arrays))``: the fitted probe of the :func:`fit_layers` call
        that made this cell, exported (:func:`molstrata.probe.export.export_probe`) for the
        layers it was fitted on; only with ``fit_layers(..., export=True)``, else None
    """

    valid_score: float
    param: float
    test_pred: np.ndarray
    fitted: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, eq=False)
class LayerScores:
    """Scores of a probe on every layer, for one encoder, task and seed.

    Attributes
    ----------
    encoder, task, metric : str
    seed : int, the split seed (also seeds the probe)
    model : str, ``linear``, ``mlp``, ``gbdt``, ``mlp-tuned`` or ``gbdt-tuned``
    valid_scores : ndarray (n_layers,), validation score of each layer's probe
    test_scores : ndarray (n_layers,), test score of each layer's probe, computed after
        the selection; only for reporting (and the labelled oracle)
    selected_layer : int, chosen from ``valid_scores`` only
    params : ndarray (n_layers,), the hyperparameter chosen on valid per layer
    test_pred : ndarray (n_test,), test predictions of the selected layer, test-file order
    test_ids : ndarray of str (n_test,), ``Drug_ID`` of the test rows
    test_y : ndarray (n_test,), the test labels
    strategy : str, the selection strategy
    meta : dict, notes (rows excluded as invalid, fallback predictions...)
    selected_label : str or None, the choice as tables show it when it is not one layer
        (e.g. ``"3+5"`` for ``concat``); None: ``str(selected_layer)``
    selected_score : float or None, the test score of ``test_pred`` when it is not one
        layer's (combinations; ``selected_layer`` is then the layer of largest weight)
    """

    encoder: str
    task: str
    metric: str
    seed: int
    model: str
    valid_scores: np.ndarray
    test_scores: np.ndarray
    selected_layer: int
    params: np.ndarray
    test_pred: np.ndarray
    test_ids: np.ndarray
    test_y: np.ndarray
    strategy: str = "valid-best"
    meta: dict = field(default_factory=dict)
    selected_label: str | None = None
    selected_score: float | None = None

    @property
    def n_layers(self) -> int:
        return len(self.valid_scores)

    @property
    def final_layer(self) -> int:
        return self.n_layers - 1

    @property
    def relative_depth(self) -> np.ndarray:
        """Depth of each layer in [0, 1], shape (n_layers,)."""
        return np.linspace(0.0, 1.0, self.n_layers) if self.n_layers > 1 else np.zeros(1)

    @property
    def selected_test_score(self) -> float:
        if self.selected_score is not None:
            return float(self.selected_score)
        return float(self.test_scores[self.selected_layer])

    @property
    def selection_label(self) -> str:
        """The choice as tables show it: the layer, or e.g. ``"3+5"`` for a combination."""
        return self.selected_label if self.selected_label is not None else str(self.selected_layer)

    @property
    def final_test_score(self) -> float:
        return float(self.test_scores[-1])


# ------------------------------------------------------------------------ preparation
@dataclass(frozen=True)
class ProbeData:
    """Layer matrices and labels of one (task, seed), invalid molecules handled.

    Attributes
    ----------
    train, valid, test : list of ndarray, n_layers arrays (n_part, hidden_dim_k)
    y_train, y_valid : ndarray (n_train,), (n_valid,) (rows of invalid molecules removed)
    test_valid : ndarray of bool (n_test,), False where the molecule could not be embedded
    test_ids : ndarray of str (n_test,)
    notes : list of str
    trainval_smiles : tuple of str (n_train + n_valid,), the SMILES of the train rows then the
        valid rows kept above (for scaffold-grouped CV)
    """

    train: list[np.ndarray]
    valid: list[np.ndarray]
    test: list[np.ndarray]
    y_train: np.ndarray
    y_valid: np.ndarray
    test_valid: np.ndarray
    test_ids: np.ndarray
    notes: list[str]
    trainval_smiles: tuple[str, ...] = ()


def _rows_for(emb_index: Mapping[str, int], smiles: Sequence[str], where: str) -> np.ndarray:
    missing = [s for s in smiles if s not in emb_index]
    if missing:
        raise ConfigError(
            f"the embeddings lack {len(missing)} SMILES of {where} (e.g. {missing[0]!r}); "
            "embed every molecule of the task first"
        )
    return np.fromiter((emb_index[s] for s in smiles), dtype=np.int64, count=len(smiles))


def prepare(embeddings: LayerEmbeddings, split: Any, *, index: Mapping[str, int] | None = None) -> ProbeData:
    """Gather each part's rows of ``embeddings`` (matched on the ``Drug`` SMILES string).

    Train/valid molecules that the encoder could not embed (``embeddings.valid`` False) are
    left out of fitting and listed in ``notes``; test rows are kept (the probe predicts the
    training mean / prevalence for them, also noted), so TDC scores every test row.
    """
    if getattr(split, "n_tasks", 1) != 1:
        raise ConfigError(f"task {split.name} has {split.n_tasks} targets; probes take one target")
    if index is None:
        index = {}
        for i, s in enumerate(embeddings.smiles):
            index.setdefault(s, i)
    notes: list[str] = []
    parts = {}
    kept = {p: split.smiles(p) for p in ("train", "valid")}
    for part in ("train", "valid", "test"):
        rows = _rows_for(index, split.smiles(part), f"task {split.name} ({part})")
        parts[part] = rows
    y = {p: split.y(p) for p in ("train", "valid")}
    for part in ("train", "valid"):
        ok = embeddings.valid[parts[part]]
        if not ok.all():
            bad = np.flatnonzero(~ok)
            notes.append(
                f"{split.name} seed {split.seed}: {bad.size} {part} molecule(s) could not be "
                f"embedded and were left out of fitting ({part} rows {bad[:10].tolist()})"
            )
            parts[part] = parts[part][ok]
            y[part] = y[part][ok]
            kept[part] = [s for s, keep in zip(kept[part], ok, strict=True) if keep]
    test_valid = embeddings.valid[parts["test"]].copy()
    if not test_valid.all():
        bad = np.flatnonzero(~test_valid)
        notes.append(
            f"{split.name} seed {split.seed}: {bad.size} test molecule(s) could not be embedded "
            f"(test rows {bad[:10].tolist()}); they get the training mean/prevalence as prediction"
        )

    def take(rows: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(layer[rows], dtype=np.float32) for layer in embeddings.layers]

    return ProbeData(
        train=take(parts["train"]), valid=take(parts["valid"]),
        test=take(parts["test"][test_valid]), y_train=y["train"], y_valid=y["valid"],
        test_valid=test_valid, test_ids=split.test["Drug_ID"].astype(str).to_numpy(), notes=notes,
        trainval_smiles=tuple(kept["train"]) + tuple(kept["valid"]),
    )


def fit_layers(
    data: ProbeData, *, model: str, task_type: str, metric: str, seed: int,
    layers: Sequence[int] | None = None, params: Mapping[str, Any] | None = None,
    export: bool = False,
) -> dict[int, LayerCell]:
    """Fit, on train, and tune, on valid, a probe on each of ``layers`` (default: all).

    Test rows are predicted (their labels are not available here). With ``export``, each
    cell also carries the fitted probe as arrays (``LayerCell.fitted``, for saved predictors).

    Returns
    -------
    dict layer -> :class:`LayerCell`
    """
    layers = list(range(len(data.train))) if layers is None else list(layers)
    est = make_probe(model, task_type, metric, seed, **dict(params or {}))
    est.fit([data.train[k] for k in layers], data.y_train, [data.valid[k] for k in layers], data.y_valid)
    valid_pred = est.predict([data.valid[k] for k in layers])
    n_test = data.test_valid.size
    fallback = float(np.mean(data.y_train))
    if data.test_valid.any():
        test_pred_ok = est.predict([data.test[k] for k in layers])
    fitted = None
    if export:
        from molstrata.probe.export import export_probe

        fitted = (tuple(int(k) for k in layers), export_probe(est))
    cells = {}
    for j, k in enumerate(layers):
        test_pred = np.full(n_test, fallback)
        if data.test_valid.any():
            test_pred[data.test_valid] = test_pred_ok[j]
        cells[k] = LayerCell(
            valid_score=float(evaluate(metric, data.y_valid, valid_pred[j])),
            param=float(est.best_param_[j]), test_pred=test_pred, fitted=fitted,
        )
    return cells


def assemble(
    cells: Mapping[int, LayerCell], split: Any, *, encoder: str, model: str,
    strategy: str = "valid-best", notes: Sequence[str] = (),
) -> LayerScores:
    """Choose the layer on the validation scores, then score every layer on test."""
    n_layers = len(cells)
    if sorted(cells) != list(range(n_layers)):
        raise ConfigError(f"cells for layers {sorted(cells)}; expected 0..{n_layers - 1}")
    valid_scores = np.array([cells[k].valid_score for k in range(n_layers)])
    selected = select_layer(valid_scores, split.metric, strategy=strategy)
    # the choice is final: only now are the test labels read
    y_test = split.y("test")
    test_scores = np.array([evaluate(split.metric, y_test, cells[k].test_pred) for k in range(n_layers)])
    return LayerScores(
        encoder=encoder, task=split.name, metric=split.metric, seed=int(split.seed), model=model,
        valid_scores=valid_scores, test_scores=test_scores, selected_layer=selected,
        params=np.array([cells[k].param for k in range(n_layers)]),
        test_pred=cells[selected].test_pred, test_ids=split.test["Drug_ID"].astype(str).to_numpy(),
        test_y=y_test, strategy=strategy, meta={"notes": list(notes)},
    )
