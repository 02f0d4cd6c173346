"""Label-free layer recommendation, and how well it agrees with probes.

:func:`recommend_layer` sees metrics only, never labels. Its rules:

* ``"dataset_entropy"`` (default) — the layer with the highest normalised dataset entropy,
  excluding layer 0 (the input embeddings, before any context is mixed in); ties go to the
  shallower layer. Rationale (Skean et al., 2025): the last blocks of a pretrained encoder
  specialise to its pretraining objective and compress the set of molecules onto fewer
  directions, so the layer where molecules are spread most evenly keeps the most general
  information.
* ``"effective_rank"``, ``"lidar"``, ``"infonce_mi"``, ``"dime"`` — argmax of that metric,
  same exclusions and tie rule.
* ``"consensus"`` — the best mean rank over the available metrics among dataset entropy,
  LiDAR, InfoNCE and DiME (higher is better for each).

The rule was fixed before looking at any probe result. Whether it works is measured, not
assumed: :func:`metric_probe_correlation` gives, per task, the Spearman correlation across
layers between each metric and the **validation** probe score, and :func:`regret_table`
compares the test score of the recommended layer with the validation-selected and the final
layer (test scores are reported, never used to choose).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from molstrata.core.errors import ConfigError, check_choice

RULES = ("dataset_entropy", "effective_rank", "lidar", "infonce_mi", "dime", "consensus")
_CONSENSUS = ("dataset_entropy", "lidar", "infonce_mi", "dime")
#: probe metrics where lower is better (TDC names)
LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse"})


def _wide(metrics: Any) -> pd.DataFrame:
    """Metrics as a (n_layers, n_metrics) table indexed by layer."""
    if hasattr(metrics, "wide") and callable(metrics.wide):
        return metrics.wide()
    if isinstance(metrics, dict):
        return pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in metrics.items()})
    if isinstance(metrics, pd.DataFrame):
        if {"layer", "metric", "value"} <= set(metrics.columns):
            if "encoder" in metrics.columns and metrics["encoder"].nunique() > 1:
                raise ConfigError(
                    "metrics hold several encoders "
                    f"({', '.join(map(str, metrics['encoder'].unique()))}); pass one"
                )
            return metrics.pivot_table(index="layer", columns="metric", values="value", aggfunc="mean")
        return metrics
    raise ConfigError(
        f"recommend_layer needs a DepthProfile, a layer_metrics DataFrame or a dict of "
        f"per-layer arrays, got {type(metrics).__name__}"
    )


def _argmax_excluding_input(values: pd.Series) -> int:
    v = values.drop(index=0, errors="ignore") if len(values) > 1 else values
    v = v.dropna()
    if v.empty:
        raise ConfigError(f"metric {values.name!r} has no finite value on layers >= 1")
    best = v.max()
    return int(v.index[np.flatnonzero(np.isclose(v.to_numpy(), best, rtol=0, atol=1e-9))[0]])


def recommend_layer(metrics: Any, rule: str = "dataset_entropy") -> int:
    """Recommend a layer from label-free metrics alone.

    Parameters
    ----------
    metrics : a :class:`~molstrata.analysis.DepthProfile`, a ``layer_metrics`` DataFrame
        (long: ``layer, metric, value``; or wide: index layer, one column per metric), or a
        dict ``{metric: array of shape (n_layers,)}``
    rule : one of :data:`RULES` (see the module docstring)

    Returns
    -------
    int, the recommended layer index (0 = input embeddings).
    """
    check_choice("rule", rule, RULES)
    table = _wide(metrics)
    if rule != "consensus":
        if rule not in table.columns:
            raise ConfigError(
                f"rule {rule!r} needs metric {rule!r}; available: {', '.join(map(str, table.columns))}"
            )
        return _argmax_excluding_input(table[rule].rename(rule))
    cols = [c for c in _CONSENSUS if c in table.columns and table[c].notna().any()]
    if not cols:
        raise ConfigError(f"rule 'consensus' needs one of {', '.join(_CONSENSUS)}")
    ranks = table[cols].rank(ascending=True).mean(axis=1).rename("consensus")
    return _argmax_excluding_input(ranks)


def _oriented(frame: pd.DataFrame) -> pd.Series:
    """Scores with higher = better (MAE and friends negated)."""
    sign = np.where(frame["metric"].str.lower().isin(LOWER_IS_BETTER), -1.0, 1.0)
    return frame["score"] * sign


def _check_probe(probe_results: pd.DataFrame) -> pd.DataFrame:
    need = {"encoder", "task", "metric", "layer", "seed", "split", "score"}
    missing = need - set(probe_results.columns)
    if missing:
        raise ConfigError(
            f"probe results lack column(s) {', '.join(sorted(missing))}; expected the long "
            f"format of probe_results.csv: {', '.join(sorted(need))}"
        )
    pr = probe_results.copy()
    pr["oriented"] = _oriented(pr)
    return pr


def _metrics_by_encoder(layer_metrics: pd.DataFrame, encoders: list[str]) -> dict[str, pd.DataFrame]:
    if "encoder" not in layer_metrics.columns:
        if len(encoders) != 1:
            raise ConfigError("layer_metrics has no 'encoder' column but probes cover several encoders")
        return {encoders[0]: layer_metrics}
    out = {e: g for e, g in layer_metrics.groupby("encoder") if e in set(encoders)}
    if not out:
        raise ConfigError(
            "no encoder in common between layer metrics "
            f"({', '.join(map(str, layer_metrics['encoder'].unique()))}) and probe results "
            f"({', '.join(map(str, encoders))})"
        )
    return out


#: identity keys that decide whether two encoders give the same embeddings
_IDENTITY_KEYS = ("sha", "revision", "random_init", "seed", "num_layers", "max_length")


def check_probe_results(probe_results: pd.DataFrame, path: Any, encoder: Any) -> list[str]:
    """Check, before the analysis, that probe results can be joined with ``encoder``'s.

    Raises :class:`ConfigError` (in seconds, not after the analysis) when ``probe_results``
    lacks the long-format columns or has no rows for ``encoder.name``. When the probe run
    folder beside ``path`` holds ``cells/<encoder>/identity.json`` (written by
    ``molstrata probe``), compares its weights hashes, revision, random-init seed, depth
    and maximum length with ``encoder.identity()`` and returns a warning for each
    difference: probes of other weights (an older checkpoint of the same name) make the
    correlation meaningless. (A warning, not an error: a model whose unused head is freshly
    initialised at every load, such as a RoBERTa pooler absent from an MLM checkpoint,
    hashes differently at every load although its layers are the same.)

    Parameters
    ----------
    probe_results : DataFrame read from ``path`` (``probe_results.csv``)
    path : where it was read from (named in messages)
    encoder : the encoder about to be analysed

    Returns
    -------
    list of str, warnings for the report (empty when the identities agree or are unknown).
    """
    import json
    from pathlib import Path

    _check_probe(probe_results)
    name = str(getattr(encoder, "name", encoder))
    names = sorted(map(str, probe_results["encoder"].unique()))
    if name not in names:
        raise ConfigError(
            f"--probe-results {path} has no rows for encoder {name!r} (it has: "
            f"{', '.join(names)}); probe this encoder first or point at its probe_results.csv"
        )
    if not hasattr(encoder, "identity"):
        return []
    mine = json.loads(json.dumps(encoder.identity(), default=str))
    notes = []
    for ident_file in sorted((Path(path).parent / "cells").glob("*/identity.json")):
        theirs = json.loads(ident_file.read_text())
        if str(theirs.get("name")) != name:
            continue
        keys = sorted(k for k in set(mine) | set(theirs) if any(t in k for t in _IDENTITY_KEYS))
        diff = [k for k in keys if mine.get(k) != theirs.get(k)]
        if diff:
            shown = "; ".join(f"{k}: probed {theirs.get(k)!r}, analysed {mine.get(k)!r}" for k in diff)
            notes.append(
                f"WARNING: the probe run {ident_file.parent.parent.parent} probed a {name!r} that "
                f"differs from the analysed one ({shown}); unless only an unused head differs, "
                "the correlation and regret below compare different weights"
            )
    return notes


def metric_probe_correlation(layer_metrics: pd.DataFrame, probe_results: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlation across layers between each metric and the validation probe score.

    Parameters
    ----------
    layer_metrics : long DataFrame ``encoder, layer, metric, value`` (``layer_metrics.csv``)
    probe_results : long DataFrame ``encoder, task, metric, layer, seed, split, score``
        (``probe_results.csv``); only ``split == "valid"`` rows are read

    Returns
    -------
    DataFrame with columns ``encoder, task, task_metric, metric, spearman, p_value,
    n_layers``. Scores are oriented so that higher is better (MAE negated): a positive
    Spearman means layers with a higher metric value probe better on validation.
    """
    from scipy.stats import spearmanr

    pr = _check_probe(probe_results)
    valid = pr[pr["split"] == "valid"]
    if valid.empty:
        raise ConfigError("probe results have no split == 'valid' rows")
    rows = []
    by_enc = _metrics_by_encoder(layer_metrics, sorted(valid["encoder"].unique()))
    for (enc, task, tmetric), g in valid.groupby(["encoder", "task", "metric"]):
        if enc not in by_enc:
            continue
        score = g.groupby("layer")["oriented"].mean()
        for m, lm in by_enc[enc].groupby("metric"):
            v = lm.groupby("layer")["value"].mean()
            common = score.index.intersection(v.dropna().index)
            if len(common) >= 3 and v.loc[common].nunique() > 1 and score.loc[common].nunique() > 1:
                rho, p = spearmanr(v.loc[common], score.loc[common])
            else:
                rho, p = np.nan, np.nan
            rows.append((enc, task, tmetric, m, float(rho), float(p), len(common)))
    return pd.DataFrame(
        rows, columns=["encoder", "task", "task_metric", "metric", "spearman", "p_value", "n_layers"]
    )


def regret_table(
    layer_metrics: pd.DataFrame, probe_results: pd.DataFrame, rule: str = "dataset_entropy"
) -> pd.DataFrame:
    """Test score of the recommended layer vs the validation-selected and the final layer.

    Per encoder and task: the recommended layer comes from the metrics alone; the selected
    layer is, per seed, the layer with the best validation score (ties: shallower); the final
    layer is the deepest. Test scores are averaged over seeds.

    Parameters
    ----------
    layer_metrics : long DataFrame ``encoder, layer, metric, value``
    probe_results : long DataFrame ``encoder, task, metric, layer, seed, split, score``
    rule : the :func:`recommend_layer` rule

    Returns
    -------
    DataFrame with columns ``encoder, task, task_metric, recommended_layer,
    selected_layers, final_layer, test_recommended, test_selected, test_final,
    regret_vs_selected, gain_vs_final``. ``regret_vs_selected`` is how much worse (in the
    task's metric, sign-corrected so positive = worse) the recommended layer scores than the
    validation-selected one; ``gain_vs_final`` how much better than the final layer.
    """
    pr = _check_probe(probe_results)
    by_enc = _metrics_by_encoder(layer_metrics, sorted(pr["encoder"].unique()))
    rows = []
    for (enc, task, tmetric), g in pr.groupby(["encoder", "task", "metric"]):
        if enc not in by_enc:
            continue
        rec = recommend_layer(by_enc[enc], rule=rule)
        valid = g[g["split"] == "valid"]
        test = g[g["split"] == "test"]
        final = int(g["layer"].max())
        selected, t_rec, t_sel, t_fin = [], [], [], []
        for seed, vs in valid.groupby("seed"):
            v = vs.groupby("layer")["oriented"].mean()
            sel = int(v.index[np.flatnonzero(v.to_numpy() == v.max())[0]])
            ts = test[test["seed"] == seed].groupby("layer")["oriented"].mean()
            if not {rec, sel, final} <= set(ts.index):
                continue
            selected.append(sel)
            t_rec.append(ts[rec])
            t_sel.append(ts[sel])
            t_fin.append(ts[final])
        if not selected:
            continue
        sign = -1.0 if str(tmetric).lower() in LOWER_IS_BETTER else 1.0
        rows.append(
            (enc, task, tmetric, rec, ",".join(map(str, selected)), final,
             sign * np.mean(t_rec), sign * np.mean(t_sel), sign * np.mean(t_fin),
             float(np.mean(t_sel) - np.mean(t_rec)), float(np.mean(t_rec) - np.mean(t_fin)))
        )
    return pd.DataFrame(
        rows,
        columns=["encoder", "task", "task_metric", "recommended_layer", "selected_layers",
                 "final_layer", "test_recommended", "test_selected", "test_final",
                 "regret_vs_selected", "gain_vs_final"],
    )
