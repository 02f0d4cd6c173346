"""Write a depth analysis to a run folder: tables, figures, a report section, the config."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molstrata.analysis.figures import plot_cka, plot_metrics
from molstrata.analysis.profile import METRICS, DepthProfile
from molstrata.analysis.recommend import metric_probe_correlation, recommend_layer, regret_table
from molstrata.core.config import save_config
from molstrata.core.files import atomic_write, read_cached

_BEGIN = "<!-- molstrata:analyze:begin -->"
_END = "<!-- molstrata:analyze:end -->"


def _fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return "—" if not np.isfinite(x) else f"{x:.3f}"
    return str(x)


def markdown_table(df: pd.DataFrame, index: bool = True) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    frame = df.reset_index() if index else df
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    sep = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def _atomic_csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write(path, df.to_csv(index=False), cache=False)


def write_outputs(
    profile: DepthProfile,
    out_dir: str | Path,
    *,
    params: Mapping[str, Any] | None = None,
    probe_results: pd.DataFrame | None = None,
    rule: str = "dataset_entropy",
) -> dict[str, Path]:
    """Write ``layer_metrics.csv``, ``cka.csv``, ``molecules.csv`` (the analysed rows),
    ``figures/``, ``report.md`` and ``config.toml``.

    ``report.md`` gets (or has replaced) one delimited section, so other commands writing to
    the same folder keep theirs. With ``probe_results`` (``probe_results.csv`` as a DataFrame)
    the section adds the metric ↔ validation-probe Spearman table and the regret table, also
    written as ``metric_probe_correlation.csv`` and ``recommendation_regret.csv``.

    Returns
    -------
    dict naming every written file.
    """
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    files["layer_metrics"] = out / "layer_metrics.csv"
    _atomic_csv(profile.metrics, files["layer_metrics"])
    files["cka"] = out / "cka.csv"
    _atomic_csv(profile.cka_frame(), files["cka"])
    if profile.smiles:
        files["molecules"] = out / "molecules.csv"
        _atomic_csv(pd.DataFrame({"input_row": profile.rows, "smiles": list(profile.smiles)}),
                    files["molecules"])
    try:
        rec: int | None = recommend_layer(profile.metrics, rule=rule)
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        rec = None
        profile = DepthProfile(**{**profile.__dict__, "notes": (*profile.notes, f"no recommendation: {exc}")})
    files["metrics_png"] = plot_metrics(
        profile.metrics, out / "figures" / "layer_metrics.png",
        recommended={profile.encoder: rec} if rec is not None else None,
        title=f"{profile.encoder}: label-free metrics across depth ({profile.n_molecules} molecules)",
    )
    files["cka_png"] = plot_cka(
        profile.cka, out / "figures" / "cka.png",
        title=f"{profile.encoder}: {profile.cka_method} CKA between layers",
    )
    corr = regret = None
    if probe_results is not None:
        corr = metric_probe_correlation(profile.metrics, probe_results)
        regret = regret_table(profile.metrics, probe_results, rule=rule)
        files["correlation"] = out / "metric_probe_correlation.csv"
        _atomic_csv(corr, files["correlation"])
        files["regret"] = out / "recommendation_regret.csv"
        _atomic_csv(regret, files["regret"])
    files["report"] = out / "report.md"
    _write_section(files["report"], _section(profile, rec, rule, corr, regret))
    files["config"] = save_config(out, "analyze", dict(params or profile.params))
    return files


def _section(
    profile: DepthProfile, rec: int | None, rule: str,
    corr: pd.DataFrame | None, regret: pd.DataFrame | None,
) -> str:
    wide = profile.wide()
    wide.insert(0, "relative_depth", np.linspace(0, 1, profile.n_layers) if profile.n_layers > 1 else [0.0])
    lines = [
        _BEGIN,
        f"## Information flow across depth: {profile.encoder}",
        "",
        f"{profile.n_molecules} molecules, {profile.n_layers} layer outputs (layer 0 = input "
        f"embeddings). Label-free: no labels were read.",
        "",
        markdown_table(wide),
        "",
        "Metrics: " + "; ".join(f"`{m}`: {METRICS[m][0]}" for m in wide.columns if m in METRICS) + ".",
        "",
        f"**Recommended layer (rule `{rule}`, metrics only): {rec if rec is not None else 'none'}.**",
        "",
        "![metrics across depth](figures/layer_metrics.png)",
        "",
        f"![CKA between layers](figures/cka.png)  (`cka.csv`: {profile.cka_method} CKA)",
        "",
    ]
    if profile.notes:
        lines += ["Notes:", *[f"- {n}" for n in profile.notes], ""]
    if corr is not None:
        lines += ["### Do the metrics predict the validation probe score?", ""]
        if corr.empty:
            lines += ["No probe results for this encoder.", ""]
        else:
            piv = corr.pivot_table(index="task", columns="metric", values="spearman")
            lines += [
                "Spearman correlation across layers between each metric and the validation "
                "probe score (oriented: higher = better, MAE negated), per task. Positive: "
                "layers with a higher metric probe better. The metrics are one depth profile, "
                f"computed on the {profile.n_molecules} molecules analysed above; every task's "
                "row correlates that profile with the task's own validation scores (mean over "
                "seeds).",
                "",
                markdown_table(piv),
                "",
                "Median over tasks: " + ", ".join(
                    f"`{m}` {piv[m].median():.2f}" for m in piv.columns if piv[m].notna().any()
                ) + ".",
                "",
            ]
    if regret is not None and not regret.empty:
        lines += [
            f"### Regret of the label-free recommendation (rule `{rule}`)",
            "",
            "Test scores (mean over seeds) of the recommended layer, the validation-selected "
            "layers and the final layer. `regret_vs_selected` > 0: the recommendation is worse "
            "than validation selection; `gain_vs_final` > 0: better than the final layer "
            "(both sign-corrected for MAE). Test scores are reported, never used to choose.",
            "",
            markdown_table(regret, index=False),
            "",
            f"Recommendation beats the final layer on {(regret['gain_vs_final'] > 0).sum()} of "
            f"{len(regret)} tasks; matches or beats validation selection on "
            f"{(regret['regret_vs_selected'] <= 0).sum()} of {len(regret)}.",
            "",
        ]
    lines.append(_END)
    return "\n".join(lines)


def _write_section(path: Path, section: str) -> None:
    """Insert or replace the analysis section of ``report.md`` (atomic write)."""
    text = read_cached(path, lambda p: p.read_text(encoding="utf-8"), what="report") or "# molstrata report\n"
    pattern = re.compile(re.escape(_BEGIN) + r".*?" + re.escape(_END), flags=re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    atomic_write(path, text, cache=False)
