"""Run records: what a run folder was computed from, so that a rerun never reuses stale work.

Every command that writes an ``--out`` folder (embed, probe, finetune, analyze) writes
``run.json`` there::

    {"command": "probe", "settings": {...}, "inputs": {...}, "encoders": {...},
     "version": "0.1.0", "format": 1}

``settings`` decide *which* run this is (options, tasks, seeds, encoder names): a rerun with
other settings is another run and is refused unless ``--overwrite``. ``inputs`` hold the
sha256 of each input file (``caco2_wang/train_val.csv``, a user CSV) and of the loaded
molecules and labels; ``encoders`` the identity hash of each encoder (the one the embeddings
cache keys on). A rerun with the same settings but other inputs is the same run on other data:
the command recomputes what depends on them (probe cells) or refuses and names what changed
(finetune).

``--overwrite`` removes only molstrata's own files of the old run (:data:`OUTPUTS`), never a
file it did not write. Another command given the folder of a run (``analyze --out <probe
run>``) writes its own run to ``<folder>/<command>/`` (:func:`run_folder`): each run keeps its
``run.json``, ``config.toml``, tables and report.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from molstrata import __version__
from molstrata.core.errors import ConfigError
from molstrata.core.files import atomic_write
from molstrata.core.hashing import file_sha256
from molstrata.data._registry import ADMET_TASKS
from molstrata.data._source import admet_dir
from molstrata.embeddings.cache import CacheKey

RUN_FILE = "run.json"
FORMAT = 1

#: top-level entries each command writes in its ``--out`` (glob patterns)
OUTPUTS: dict[str, tuple[str, ...]] = {
    "embed": ("layer_*.npy", "layer_*.npy.tmp", "molecules.csv", "manifest.json",
              ".manifest.json.tmp", ".staging-*"),
    "probe": ("cells", "models", "predictions", "leaderboard", "figures", "probe_results.csv",
              "summary.csv", "leaderboard.json", "probe_params.csv", "selection.csv",
              "selection_seeds.csv", "selection_summary.csv", "notes.txt", "report.md",
              "baseline.csv", "report.html", "notes", "control_random-twin"),
    "finetune": ("cells", "checkpoints", "predictions", "figures", "finetune_results.csv",
                 "frozen_results.csv", "correlations.csv", "summary.csv", "selection.csv",
                 "leaderboard.json", "report.md", "run_params.json", "report.html"),
    "analyze": ("figures", "layer_metrics.csv", "cka.csv", "molecules.csv",
                "metric_probe_correlation.csv", "recommendation_regret.csv", "report.md",
                "report.html", "notes"),
}
_COMMON = ("config.toml", "config.toml.tmp", "run.json", "run.json.tmp",
           ".config.toml.*.tmp", ".run.json.*.tmp")  # the last two: molstrata.core.files.atomic_write


# ------------------------------------------------------------------------------ hashes
def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def json_digest(value: Any) -> str:
    """sha256 of ``value`` as canonical JSON (sorted keys; non-JSON values as ``str``)."""
    return sha256_bytes(json.dumps(value, sort_keys=True, default=str).encode())


def encoder_identity(encoder: Any) -> str:
    """The sha256 of ``encoder.identity()`` (the hash the embeddings cache keys on)."""
    pooling = getattr(encoder, "default_pooling", None) or "mean"
    return CacheKey.for_encoder(encoder, pooling=str(pooling)).identity


def frame_digest(frame: Any, columns: Sequence[str] | None = None) -> str:
    """sha256 of a DataFrame's values (``columns`` or all), row order included."""
    import pandas as pd

    part = frame if columns is None else frame[[c for c in columns if c in frame.columns]]
    hashed = pd.util.hash_pandas_object(part.astype(str), index=False).to_numpy()
    head = json.dumps([str(c) for c in part.columns]).encode()
    return sha256_bytes(head + hashed.tobytes())


def task_files(task: str, data_dir: str | Path | None = None) -> dict[str, Path]:
    """The files a task is read from, ``{"<task>/train_val.csv": path, ...}``; empty when
    they are not plain files molstrata can name (MoleculeNet, downloads in progress)."""
    key = task.strip().lower()
    if key not in ADMET_TASKS:
        return {}

    folder = admet_dir(data_dir, download=False)
    return {f"{key}/{name}": folder / key / name for name in ("train_val.csv", "test.csv")
            if (folder / key / name).is_file()}


def file_hashes(files: Mapping[str, str | Path]) -> dict[str, str]:
    """``{label: sha256 of the file}``."""
    return {label: file_sha256(path) for label, path in files.items()}


def split_inputs(split: Any, data_dir: str | Path | None = None,
                 parts: Sequence[str] = ("train", "valid", "test")) -> dict[str, str]:
    """Input hashes of one loaded task split: its source files (where known) and the
    molecules + labels of each of ``parts`` (``<task>/labels@seed<s>``). Without ``"test"``
    in ``parts`` (a run that never reads the test set) ``test.csv`` is not an input."""
    files = task_files(split.name, data_dir) if split.group == "admet" else {}
    if split.group == "csv" and split.sources and Path(split.sources["test"][0]).is_file():
        path = Path(split.sources["test"][0])  # a user CSV: its sha256, as TDC's files
        files = {f"{split.name}/{path.name}": path}
    if "test" not in parts:
        files = {k: v for k, v in files.items() if not k.endswith("/test.csv")}
    out = file_hashes(files)
    cols = ["Drug", *split.target_cols]
    out[f"{split.name}/labels@seed{split.seed}"] = sha256_bytes("".join(
        frame_digest(getattr(split, part), cols) for part in parts).encode())
    return out


# ------------------------------------------------------------------------------ records
def build_record(
    command: str, settings: Mapping[str, Any], inputs: Mapping[str, str],
    encoders: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``run.json`` of a run.

    Parameters
    ----------
    command : ``"embed"``, ``"probe"``, ``"finetune"`` or ``"analyze"``
    settings : the options that make this run this run (JSON-able)
    inputs : input label -> sha256 (files, molecules and labels)
    encoders : encoder name -> identity hash (:func:`encoder_identity`)
    """
    return {"format": FORMAT, "command": command, "version": __version__,
            "settings": json.loads(json.dumps(dict(settings), sort_keys=True, default=str)),
            "inputs": dict(sorted(inputs.items())), "encoders": dict(sorted((encoders or {}).items()))}


def read_record(out: str | Path) -> dict[str, Any] | None:
    """The ``run.json`` of ``out``, or ``None`` when there is none (or it is unreadable)."""
    path = Path(out) / RUN_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(out: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``run.json`` atomically into ``out`` (created if needed)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    return atomic_write(out / RUN_FILE, json.dumps(dict(record), sort_keys=True, indent=2) + "\n",
                        cache=False)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:12] if isinstance(value, str) and len(value) == 64 else text


def changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The keys whose values differ between two mappings, sorted."""
    return [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def describe(old: Mapping[str, Any], new: Mapping[str, Any], *, what: str = "") -> str:
    """One line naming what differs: ``"caco2_wang/train_val.csv changed (sha256 e0965b4a0617
    before, 1f2e3d4c5b6a now)"``; ``""`` when nothing differs."""
    parts = []
    for k in changed(old, new):
        if k not in old:
            parts.append(f"{k}: new ({_short(new[k])})")
        elif k not in new:
            parts.append(f"{k}: gone (was {_short(old[k])})")
        elif isinstance(old[k], str) and len(old[k]) == 64 and isinstance(new[k], str):
            parts.append(f"{k} changed (sha256 {_short(old[k])} before, {_short(new[k])} now)")
        else:
            parts.append(f"{k}: {_short(old[k])} before, {_short(new[k])} now")
    return (what + "; ".join(parts)) if parts else ""


# ------------------------------------------------------------------------------ folders
def _owned(out: Path, commands: Sequence[str]) -> list[Path]:
    patterns = [*_COMMON, *(p for c in commands for p in OUTPUTS.get(c, ()))]
    return sorted(p for p in out.iterdir() if any(fnmatch.fnmatch(p.name, pat) for pat in patterns))


def clear_run(out: str | Path, command: str | None) -> list[Path]:
    """Remove molstrata's own files of the run in ``out`` (of ``command``, or of any command
    when unknown); other files are kept. Returns what was removed."""
    out = Path(out)
    if not out.is_dir():
        return []
    gone = _owned(out, [command] if command in OUTPUTS else list(OUTPUTS))
    if command in ("finetune", None):  # a multi-task finetune's per-task runs, <out>/<task>/
        gone += sorted(p for p in out.iterdir() if p.is_dir() and p not in gone
                       and (read_record(p) or {}).get("command") == "finetune")
    for path in gone:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return gone


def _config_command(out: Path) -> str | None:
    """The command named by ``out/config.toml`` (any molstrata version), else ``None``."""
    import tomllib

    try:
        with open(out / "config.toml", "rb") as fh:
            command = tomllib.load(fh).get("molstrata", {}).get("command")
    except (OSError, ValueError, AttributeError):
        return None
    return str(command) if command else None


def run_folder(out: str | Path, command: str, *, overwrite: bool = False) -> Path:
    """Where ``command`` writes its run when given ``--out out``.

    ``out`` itself, unless it holds another command's run (its ``run.json``) and
    ``overwrite`` is false: then the new run goes to ``out/<command>/`` (with its own
    ``run.json`` and ``config.toml``), so that commands sharing a folder never overwrite each
    other's files (e.g. ``analyze --out <probe run>`` writes ``<probe run>/analyze/``).
    """
    out = Path(out)
    old = read_record(out) if out.is_dir() else None
    if old is None or overwrite or old.get("command") in (None, command):
        return out
    from molstrata.core.progress import stderr_console

    stderr_console().print(f"[yellow]note:[/] {out} holds a `molstrata {old.get('command')}` run; "
                           f"writing this {command} run to {out / command}/", highlight=False)
    return out / command


def prepare_out(
    out: str | Path, record: Mapping[str, Any], *, overwrite: bool = False,
) -> dict[str, Any] | None:
    """Check ``out`` before a run writes anything there (nothing is created).

    Returns the old record when ``out`` holds the same run (same command and settings; its
    inputs may differ, for the caller to judge), else ``None`` (a fresh folder, or an old run
    removed by ``overwrite``).

    Raises
    ------
    ConfigError
        ``out`` is a file, or holds another run (another command, other settings, or
        molstrata files without a ``run.json``) and ``overwrite`` is false. The message
        names what differs and ``--overwrite``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    if not out.is_dir():
        return None
    old = read_record(out)
    command = str(record["command"])
    if old is None:  # an older molstrata's run (config.toml only), or not molstrata's files
        earlier = _config_command(out)
        found = _owned(out, [earlier] if earlier in OUTPUTS else list(OUTPUTS))
        if not found:
            return None  # empty, or only the user's own files
        shown = ", ".join(p.name for p in found[:4]) + (", ..." if len(found) > 4 else "")
        if earlier is None:
            raise ConfigError(
                f"--out {out} holds files molstrata would write ({shown}) but no {RUN_FILE} or "
                "config.toml: they are not a molstrata run, so they are never removed; move "
                "them or choose another --out")
        if overwrite:
            clear_run(out, earlier)
            return None
        raise ConfigError(
            f"--out {out} holds a `molstrata {earlier}` run without a {RUN_FILE} (written by an "
            f"older molstrata: {shown}); pass --overwrite to replace it, or choose another --out")
    if overwrite:
        clear_run(out, str(old.get("command")))
        return None
    if old.get("command") != command:
        raise ConfigError(
            f"--out {out} holds a `molstrata {old.get('command')}` run, not a {command} run; "
            "pass --overwrite to replace it, or choose another --out")
    diff = describe(old.get("settings") or {}, record["settings"])
    if diff:
        raise ConfigError(
            f"--out {out} holds another {command} run with other settings ({diff}); pass "
            "--overwrite to replace it, or choose another --out")
    return dict(old)
