"""``report.md`` and ``report.html`` of any run folder, rebuilt from its tables.

The kind of run is read from the tables present, not from ``config.toml`` (commands that
share a folder each leave their own tables): ``probe_results.csv`` (probe),
``finetune_results.csv`` (finetune), ``layer_metrics.csv`` (analyze); a folder may hold
several.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

from molstrata.core.config import load_config
from molstrata.core.errors import DataNotFoundError
from molstrata.core.files import atomic_write
from molstrata.report.html import markdown_to_html

#: the table that marks each kind of run, in report order
KINDS = {"probe": "probe_results.csv", "finetune": "finetune_results.csv", "analyze": "layer_metrics.csv"}
_TABLES = ("probe_results.csv", "summary.csv", "selection.csv", "baseline.csv", "finetune_results.csv",
           "frozen_results.csv", "correlations.csv", "layer_metrics.csv", "cka.csv")
_ANALYZE = re.compile(r"<!-- molstrata:analyze:begin -->.*?<!-- molstrata:analyze:end -->", re.S)


def run_kinds(run: Path) -> list[str]:
    """The kinds of run whose tables ``run`` holds, in report order."""
    return [kind for kind, table in KINDS.items() if (run / table).is_file()]


def sub_runs(run: Path) -> list[Path]:
    """Runs of other commands written inside ``run`` (``run/<command>/``, where a command
    given another command's folder writes), in report order."""
    return [run / kind for kind in KINDS if run_kinds(run / kind)]


def finished_at(run: Path) -> str:
    """When the run finished: the newest modification time of its tables (UTC, ISO)."""
    times = [(run / t).stat().st_mtime for t in _TABLES if (run / t).is_file()]
    if not times:
        return "?"
    return _dt.datetime.fromtimestamp(max(times), _dt.UTC).isoformat(timespec="seconds")


def _config(run: Path) -> dict:
    if not (run / "config.toml").is_file():
        return {}
    try:
        return load_config(run)
    except Exception:  # noqa: BLE001 - a damaged config.toml only loses the header's details
        return {}


def build_report(run_dir: str | Path) -> Path:
    """Write ``figures/*.png``, ``report.md`` and ``report.html`` for the run in ``run_dir``.

    Works on a probe, finetune or analyze run folder, or one holding several of them;
    computes no score (it reads the tables). ``report.html`` is self-contained (figures
    embedded). Returns the path of ``report.md``.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise DataNotFoundError(f"{run}: no such run folder")
    kinds, subs = run_kinds(run), sub_runs(run)
    if not kinds and not subs:
        raise DataNotFoundError(f"{run} holds no probe_results.csv, finetune_results.csv or "
                                "layer_metrics.csv; is it a molstrata run folder?")
    old = (run / "report.md").read_text(encoding="utf-8", errors="replace") if (run / "report.md").is_file() else ""
    cfg = _config(run)
    title = " + ".join([*kinds, *(f"{sub.name}/" for sub in subs)])
    lines = [f"# molstrata report: {title} run", "", *_header(run, cfg), ""]
    if "probe" in kinds:
        lines += _probe_lines(run, cfg)
    if "finetune" in kinds:
        from molstrata.finetune.report import finetune_section

        lines += finetune_section(run, heading="##")
    if "analyze" in kinds:
        lines += _analysis_lines(run, old)
    lines += _sub_run_lines(run, subs)
    lines += notes_section(run)
    path = run / "report.md"
    text = "\n".join(lines)
    atomic_write(path, text, cache=False)
    atomic_write(run / "report.html", markdown_to_html(text, run, title=lines[0].lstrip("# ")), cache=False)
    return path


#: what a report reads from a run folder (copied by :func:`build_report_into`); the large
#: per-cell caches, checkpoints and saved models are not needed to draw a report
_REPORT_INPUTS = ("*.csv", "*.toml", "*.json", "*.txt", "report.md", "notes/*")


def build_report_into(run_dir: str | Path, out_dir: str | Path) -> Path:
    """Like :func:`build_report`, but leave ``run_dir`` untouched: the tables it reads are
    copied into ``out_dir`` (with the runs written inside it), where ``figures/``,
    ``report.md`` and ``report.html`` are written. Returns the path of ``report.md``."""
    import shutil

    run, out = Path(run_dir), Path(out_dir)
    if not run.is_dir():
        raise DataNotFoundError(f"{run}: no such run folder")
    if out.resolve() == run.resolve():
        return build_report(run)
    for sub in [Path("."), *(s.relative_to(run) for s in sub_runs(run))]:
        for pattern in _REPORT_INPUTS:
            for src in (run / sub).glob(pattern):
                if src.is_file():
                    dst = out / sub / src.relative_to(run / sub)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
    return build_report(out)


def _sub_run_lines(run: Path, subs: list[Path]) -> list[str]:
    """One section per run written inside this folder; each gets its own report, linked."""
    lines: list[str] = []
    for sub in subs:
        build_report(sub)
        kinds = " + ".join(run_kinds(sub))
        lines += [f"## The {kinds} run in `{sub.name}/`", "",
                  f"A `molstrata {sub.name}` run given this folder as `--out` wrote to `{sub.name}/`; "
                  f"its report: [{sub.name}/report.md]({sub.name}/report.md) "
                  f"([html]({sub.name}/report.html)).", ""]
    return lines


def _header(run: Path, cfg: dict) -> list[str]:
    meta = cfg.get("molstrata", {})
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return [f"- run finished {finished_at(run)} (newest table); report built {now}; "
            f"molstrata {meta.get('version', '?')}"]


def _probe_lines(run: Path, cfg: dict) -> list[str]:
    from molstrata.report.probe_section import load, probe_section

    ctx = load(run)
    params = cfg.get("params", {}) if cfg.get("command") in (None, "probe") else {}
    seeds = sorted(ctx.results["seed"].unique().tolist())
    encoders = list(dict.fromkeys(ctx.summary["encoder"]))
    return [
        f"## Layer-wise probe: {', '.join(encoders)}", "",
        f"- probe: **{params.get('probe', '?')}**; choice shown: **{ctx.primary}** (never on test)",
        f"- tasks: {ctx.summary['task'].nunique()}, seeds: {', '.join(map(str, seeds))}, "
        f"layers: {', '.join(f'{e}: {n}' for e, n in ctx.n_layers.items())}",
        f"- pooling: {params.get('pooling') or 'encoder default'}", "",
        *probe_section(run, ctx),
    ]


def _analysis_lines(run: Path, old_report: str) -> list[str]:
    """The analyze section: kept from the previous ``report.md`` when it has one (analyze
    writes it), else rebuilt from ``layer_metrics.csv``."""
    found = _ANALYZE.search(old_report)
    if found:
        return [found.group(0), ""]
    from molstrata.report.analysis_section import analysis_section

    return analysis_section(run)


_SEED = re.compile(r"\bseed (\d+)\b")


def dedupe(notes: list[str]) -> list[str]:
    """Each note once, in first-seen order: notes that differ only in their ``seed N`` become
    one note naming every seed (``seeds 1, 2, 3``); an exact repeat gets ``(×n)``."""
    groups: dict[str, list[str]] = {}
    for n in notes:
        groups.setdefault(_SEED.sub("seed {}", n), []).append(n)
    out = []
    for key, members in groups.items():
        seeds = list(dict.fromkeys(m.group(1) for n in members for m in [_SEED.search(n)] if m))
        if len(seeds) > 1:
            text = key.replace("seed {}", "seeds " + ", ".join(seeds), 1).replace("seed {}", "seed …")
            repeat = len(members) // len(seeds)
        else:
            text, repeat = members[0], len(members)
        out.append(f"{text} (×{repeat})" if repeat > 1 else text)
    return out


def notes_section(run: Path) -> list[str]:
    """The report's ``Notes`` (``notes.txt`` and ``notes/*.txt``, each note once)."""
    files = [run / "notes.txt", *sorted((run / "notes").glob("*.txt"))] if (run / "notes").is_dir() else [run / "notes.txt"]
    notes = [n.strip() for f in files if f.is_file() for n in f.read_text().splitlines() if n.strip()]
    lines = ["## Notes", ""]
    lines += [f"- {n}" for n in dedupe(notes)] if notes else ["- none recorded: every molecule was used."]
    return [*lines, "", "## Files", "", _FILES, ""]


_FILES = (
    "Probe runs: `probe_results.csv` (every layer, seed and split), `summary.csv`, `selection*.csv` "
    "(strategies; each seed's weights per layer in `selection_seeds.csv`), `baseline.csv` (ECFP4), "
    "`leaderboard.json` (PyTDC `evaluate_many` form), `predictions/`. Finetune runs: "
    "`finetune_results.csv`, `frozen_results.csv`, `summary.csv`, `selection.csv`. Analyze runs: "
    "`layer_metrics.csv`, `cka.csv`. `config.toml`: the options, to rerun. `report.html`: this "
    "report with its figures embedded."
)
