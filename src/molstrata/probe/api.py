"""``probe``: a frozen probe on every layer for one task and one seed, the layer (or the
combination of layers) chosen without the test set, test scored once afterwards."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from molstrata.core.embeddings import LayerEmbeddings
from molstrata.probe._probe import LayerScores, assemble, fit_layers, prepare
from molstrata.probe.selection import DEFAULT_SELECTION, SelectionSpec, parse_selection
from molstrata.probe.strategies import select_and_score


def probe(
    embeddings: LayerEmbeddings,
    split: Any,
    *,
    model: str = "linear",
    strategy: str | Sequence[str] | SelectionSpec = DEFAULT_SELECTION,
    params: Mapping[str, Any] | None = None,
) -> LayerScores:
    """Train a frozen probe on every layer and choose the layer on validation.

    Parameters
    ----------
    embeddings : LayerEmbeddings holding every molecule of ``split`` (matched on the SMILES
        strings of its ``Drug`` column), n_layers arrays (n_molecules, hidden_dim_k)
    split : a :class:`~molstrata.data.TaskSplit` (one target)
    model : ``"linear"`` (ridge / logistic, regularisation tuned on valid), ``"mlp"``
        (early-stopped on valid), ``"gbdt"`` (LightGBM, early-stopped on valid), or a tuned
        head, ``"mlp-tuned"`` / ``"gbdt-tuned"`` (a small grid searched on valid per layer:
        :mod:`molstrata.probe.tuned`)
    strategy : selection strategy (default :data:`~molstrata.probe.selection.DEFAULT_SELECTION`,
        ``ensemble``, as ``molstrata probe``): ``valid`` (alias ``valid-best``), ``cv``,
        ``cv-1se``, ``concat``, ``ensemble``, ``mix`` or one added with
        :func:`~molstrata.probe.selection.register_strategy`; ``cv``, ``cv-1se``, ``concat``
        and ``ensemble`` run a scaffold-grouped CV inside ``train_val``
        (:mod:`molstrata.probe.cv`). With several (a comma list, ``"all"``), the primary one
        (:attr:`~molstrata.probe.selection.SelectionSpec.primary`) fills the result
    params : extra keyword arguments of the probe estimator (e.g. ``{"alphas": [...]}``)

    Returns
    -------
    LayerScores with valid and test scores per layer and the strategy's choice.

    Examples
    --------
    >>> from molstrata import load_encoder, load_task  # doctest: +SKIP
    >>> split = load_task("caco2_wang", seed=1)  # doctest: +SKIP
    >>> smiles = [*split.smiles("train"), *split.smiles("valid"), *split.smiles("test")]  # doctest: +SKIP
    >>> emb = load_encoder("default").embed(smiles)  # doctest: +SKIP
    >>> scores = probe(emb, split)  # doctest: +SKIP
    >>> scores.selected_layer, scores.test_scores[scores.selected_layer]  # doctest: +SKIP
    """
    spec = parse_selection(strategy)
    split.check_labels()
    data = prepare(embeddings, split)
    cells = fit_layers(data, model=model, task_type=split.task_type, metric=split.metric,
                       seed=int(split.seed), params=params)
    if spec.on_valid_only:  # chosen on validation scores alone
        return assemble(cells, split, encoder=embeddings.encoder, model=model, strategy=spec.names[0],
                        notes=data.notes)
    scores, _ = select_and_score(cells, data, split, encoder=embeddings.encoder, model=model,
                                 selections=spec, params=params, notes=data.notes)
    return scores
