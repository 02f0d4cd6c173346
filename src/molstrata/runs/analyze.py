"""The analyze run (``molstrata analyze``): one encoder's label-free depth profile, keyed and
written to a run folder.

:func:`run_analyze` reads the molecules (a task's train+valid, or a user CSV), checks the
optional ``probe_results.csv`` before any work, refuses another run's folder (``run.json``:
:mod:`molstrata.runs._record`), recomputes when an input changed, then runs
:func:`molstrata.analysis.analyze` and writes ``layer_metrics.csv``, ``cka.csv``,
``figures/``, ``report.md`` and ``config.toml``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from molstrata import encoders as _encoders
from molstrata.analysis import DepthProfile, analyze, write_outputs
from molstrata.analysis.recommend import RULES, check_probe_results
from molstrata.core.errors import ConfigError, DataNotFoundError, check_choice
from molstrata.core.paths import honours_use_cache
from molstrata.core.progress import stderr_console
from molstrata.data import CsvTask
from molstrata.data.user_csv import read_smiles_csv
from molstrata.report import build_report
from molstrata.runs._molecules import NOTES_FILE, drop_invalid, write_molecule_notes
from molstrata.runs._record import (
    build_record,
    clear_run,
    describe,
    encoder_identity,
    file_hashes,
    prepare_out,
    run_folder,
    split_inputs,
    write_record,
)
from molstrata.runs._tasks import csv_settings, csv_tasks, load_split, task_name


@dataclass(frozen=True)
class AnalyzeRun:
    """What an analyze run produced.

    Attributes
    ----------
    profile : DepthProfile, the metrics of every layer
    files : dict name -> path of what was written (``report`` among them)
    recommended : int or None, the layer the label-free ``rule`` recommends (None when the
        rule's metric was not computed)
    """

    profile: DepthProfile
    files: dict[str, Path]
    recommended: int | None


@honours_use_cache
def run_analyze(
    encoder: str, *, out: str | Path, task: str | CsvTask | None = None, input_csv: str | Path | None = None,
    smiles_col: str | None = None, max_molecules: int = 2000, seed: int = 0,
    pooling: str | None = None, metrics: list[str] | None = None, token_molecules: int = 500,
    aug_molecules: int = 256, n_augmentations: int = 16, augmentation: str = "auto",
    cka: str = "linear", rule: str = "dataset_entropy", probe_results: str | Path | None = None,
    device: str | None = None, data_dir: str | Path | None = None, trust_checkpoint: bool = False,
    overwrite: bool = False, use_cache: bool = True, trust_remote_code: bool = False,
    on_invalid: str = "raise",
) -> AnalyzeRun:
    """Analyse ``encoder`` on a task's train+valid molecules (``task``) or a CSV
    (``input_csv``), and write the run folder ``out``. Options as ``molstrata analyze``; a
    labelled CSV given as a :class:`~molstrata.data.CsvTask` ``task`` is analysed as a task
    (train+valid of seed 1, never its fixed test set)."""
    out = run_folder(out, "analyze", overwrite=overwrite)
    input_csv = Path(input_csv) if input_csv is not None else None
    probe_results = Path(probe_results) if probe_results is not None else None
    if (task is None) == (input_csv is None):
        raise ConfigError("give exactly one of --task or --input")
    check_choice("--rule", rule, RULES)
    spec, task = task, (task_name(task) if task is not None else None)
    check_choice("--on-invalid", on_invalid, ("raise", "mask"))
    if task is not None:
        split = load_split(spec, 1, data_dir)
        smiles = [*split.train["Drug"].tolist(), *split.valid["Drug"].tolist()]
        ids = [*split.train["Drug_ID"].tolist(), *split.valid["Drug_ID"].tolist()]
        source = f"task {task} (train+valid)"
    else:
        smiles, ids, _ = read_smiles_csv(input_csv, smiles_col)
        source = str(input_csv)
    dropped = None
    if on_invalid == "mask":  # analyse the valid molecules; list the others in notes/
        smiles, dropped = drop_invalid(smiles, ids, task or str(input_csv), source)
    probes = None
    if probe_results is not None:
        if not probe_results.is_file():
            raise DataNotFoundError(f"--probe-results {probe_results}: no such file")
        probes = pd.read_csv(probe_results)
    enc = _encoders.load_encoder(encoder, device=device, trust_checkpoint=trust_checkpoint,
                                 trust_remote_code=trust_remote_code)
    # fail before the analysis, not after it
    probe_notes = check_probe_results(probes, probe_results, enc) if probes is not None else []
    inputs = (split_inputs(split, data_dir, parts=("train", "valid"))  # task mode never reads test
              if task is not None else file_hashes({input_csv.name: input_csv}))
    if probe_results is not None:
        inputs.update(file_hashes({f"probe-results {probe_results.name}": probe_results}))
    record = build_record("analyze", {
        # files by name: their sha256 are inputs, so a rerun from another folder is this run
        "encoder": encoder, "task": task, "input": input_csv.name if input_csv else None,
        "smiles_col": smiles_col,
        "max_molecules": max_molecules, "seed": seed, "pooling": pooling, "metrics": metrics,
        "token_molecules": token_molecules, "aug_molecules": aug_molecules,
        "n_augmentations": n_augmentations, "augmentation": augmentation, "cka": cka, "rule": rule,
        "probe_results": probe_results.name if probe_results else None,
        **csv_settings(csv_tasks([spec])),
        **({"on_invalid": on_invalid} if dropped is not None else {}),
    }, inputs, {enc.name: encoder_identity(enc)})
    old = prepare_out(out, record, overwrite=overwrite)  # another run in --out: refused
    if old is not None:
        changed = describe({**old.get("inputs", {}), **old.get("encoders", {})},
                           {**record["inputs"], **record["encoders"]})
        if changed:
            stderr_console().print(f"[yellow]note:[/] {out} was analysed from other inputs ({changed}); "
                                   "recomputing everything", highlight=False)
        clear_run(out, "analyze")
    profile = analyze(
        enc, smiles, pooling=pooling, max_molecules=max_molecules, seed=seed, metrics=metrics,
        token_molecules=token_molecules, aug_molecules=aug_molecules,
        n_augmentations=n_augmentations, augmentation=augmentation, cka=cka, progress=True,
        source=source, use_cache=use_cache,
    )
    if dropped is not None and len(dropped):
        probe_notes = [f"{len(dropped)} invalid molecule(s) left out (--on-invalid mask; listed "
                       f"in {NOTES_FILE})", *probe_notes]
    if probe_notes:
        profile = dataclasses.replace(profile, notes=(*profile.notes, *probe_notes))
    params: dict[str, Any] = {
        **profile.params, "encoder": encoder, "task": task,
        "input": str(input_csv) if input_csv else None, "smiles_col": smiles_col,
        "rule": rule, "probe_results": str(probe_results) if probe_results else None,
        "device": device, "data_dir": str(data_dir) if data_dir else None,
        "on_invalid": on_invalid,
    }
    files = write_outputs(profile, out, params=params, probe_results=probes, rule=rule)
    write_molecule_notes(out, [] if dropped is None else [dropped])
    write_record(out, record)
    files["report"] = build_report(out)  # the folder's whole report, and report.html beside it
    try:
        rec = profile.recommend_layer(rule)
    except ConfigError:
        rec = None
    return AnalyzeRun(profile=profile, files=files, recommended=rec)
