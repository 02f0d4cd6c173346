"""``molstrata analyze``: label-free information flow across an encoder's depth."""

from __future__ import annotations

from pathlib import Path

import typer

_SMILES_COLUMNS = ("smiles", "SMILES", "Smiles", "Drug", "canonical_smiles", "mol")


def read_smiles_csv(path: Path, smiles_col: str | None) -> list[str]:
    """The SMILES column of a CSV (``smiles_col``, else the first of the usual names)."""
    import pandas as pd

    from molstrata.core.errors import ConfigError, DataNotFoundError

    if not path.is_file():
        raise DataNotFoundError(f"--input {path}: no such file")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if smiles_col is None:
        found = [c for c in _SMILES_COLUMNS if c in frame.columns]
        if not found:
            raise ConfigError(
                f"--input {path}: no SMILES column among {', '.join(_SMILES_COLUMNS)}; pass "
                f"--smiles-col (columns: {', '.join(map(str, frame.columns))})"
            )
        smiles_col = found[0]
    elif smiles_col not in frame.columns:
        raise ConfigError(
            f"--smiles-col {smiles_col!r} not in {path} (columns: {', '.join(map(str, frame.columns))})"
        )
    if frame.empty:
        raise ConfigError(f"--input {path} has no rows")
    return frame[smiles_col].tolist()


def analyze_command(
    encoder: str = typer.Option(..., "--encoder", "-e", help="Registered encoder name, HF model folder or hub id."),
    task: str | None = typer.Option(None, "--task", "-t", help="A task (molstrata tasks); its train+valid molecules are analysed, never the test set."),
    input_csv: Path | None = typer.Option(None, "--input", "-i", help="CSV with a SMILES column (instead of --task)."),
    smiles_col: str | None = typer.Option(None, "--smiles-col", help="SMILES column of --input (default: smiles/SMILES/Drug...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder for layer_metrics.csv, cka.csv, figures/, report.md, config.toml."),
    max_molecules: int = typer.Option(2000, "--max-molecules", min=4, help="Seeded subsample size when there are more molecules."),
    seed: int = typer.Option(0, "--seed", help="Seeds subsamples, augmentations and permutations."),
    pooling: str | None = typer.Option(None, "--pooling", help="Pooling (default: the encoder's)."),
    metrics: str | None = typer.Option(None, "--metrics", help="Comma-separated subset of metrics (default: all)."),
    token_molecules: int = typer.Option(500, "--token-molecules", min=1, help="Molecules for token entropy/curvature."),
    aug_molecules: int = typer.Option(256, "--aug-molecules", min=4, help="Molecules for InfoNCE/LiDAR/DiME."),
    n_augmentations: int = typer.Option(16, "--n-augmentations", min=2, help="Views per molecule for LiDAR."),
    augmentation: str = typer.Option("auto", "--augmentation", help="auto | random_smiles | atom_mask."),
    cka: str = typer.Option("linear", "--cka", help="linear | debiased | minibatch."),
    rule: str = typer.Option("dataset_entropy", "--rule", help="Label-free recommendation rule."),
    probe_results: Path | None = typer.Option(None, "--probe-results", help="probe_results.csv of the same encoder: adds metric-probe correlations and regret."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda... (default: CUDA when available)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data folder for --task (default MOLSTRATA_DATA_DIR)."),
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help="Unpickle checkpoints that name Python globals outside molstrata's allowlist, or legacy (non-zip) torch files: runs any code in them, so only for files you trust."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace another run in --out (only molstrata's files of it are removed)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the embeddings cache (MOLSTRATA_CACHE_DIR); e.g. when it is read-only."),
) -> None:
    """Entropy, effective rank, curvature, CKA and invariance metrics for every layer."""
    import pandas as pd
    from rich.console import Console

    from molstrata.analysis import analyze, write_outputs
    from molstrata.analysis.recommend import RULES
    from molstrata.core.errors import ConfigError, DataNotFoundError, check_choice
    from molstrata.encoders import load_encoder

    if (task is None) == (input_csv is None):
        raise ConfigError("give exactly one of --task or --input")
    check_choice("--rule", rule, RULES)
    if task is not None:
        from molstrata.data import load_task

        split = load_task(task, seed=1, data_dir=data_dir)
        smiles = [*split.train["Drug"].tolist(), *split.valid["Drug"].tolist()]
        source = f"task {task} (train+valid)"
    else:
        smiles = read_smiles_csv(input_csv, smiles_col)
        source = str(input_csv)
    probes = None
    if probe_results is not None:
        if not probe_results.is_file():
            raise DataNotFoundError(f"--probe-results {probe_results}: no such file")
        probes = pd.read_csv(probe_results)
    chosen = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    enc = load_encoder(encoder, device=device, trust_checkpoint=trust_checkpoint)
    probe_notes: list[str] = []
    if probes is not None:  # fail before the analysis, not after it
        from molstrata.analysis.recommend import check_probe_results

        probe_notes = check_probe_results(probes, probe_results, enc)
    from molstrata.core.runs import (
        build_record,
        clear_run,
        describe,
        encoder_identity,
        file_hashes,
        prepare_out,
        split_inputs,
        write_record,
    )

    inputs = split_inputs(split, data_dir) if task is not None else file_hashes({input_csv.name: input_csv})
    if probe_results is not None:
        inputs.update(file_hashes({f"probe-results {probe_results.name}": probe_results}))
    record = build_record("analyze", {
        "encoder": encoder, "task": task, "input": input_csv, "smiles_col": smiles_col,
        "max_molecules": max_molecules, "seed": seed, "pooling": pooling, "metrics": chosen,
        "token_molecules": token_molecules, "aug_molecules": aug_molecules,
        "n_augmentations": n_augmentations, "augmentation": augmentation, "cka": cka, "rule": rule,
        "probe_results": probe_results,
    }, inputs, {enc.name: encoder_identity(enc)})
    old = prepare_out(out, record, overwrite=overwrite)  # another run in --out: refused
    console = Console(stderr=True)
    if old is not None:
        changed = describe({**old.get("inputs", {}), **old.get("encoders", {})},
                           {**record["inputs"], **record["encoders"]})
        if changed:
            console.print(f"[yellow]note:[/] {out} was analysed from other inputs ({changed}); "
                          "recomputing everything", highlight=False)
        clear_run(out, "analyze")
    profile = analyze(
        enc, smiles, pooling=pooling, max_molecules=max_molecules, seed=seed, metrics=chosen,
        token_molecules=token_molecules, aug_molecules=aug_molecules,
        n_augmentations=n_augmentations, augmentation=augmentation, cka=cka, progress=True,
        source=source, use_cache=not no_cache,
    )
    if probe_notes:
        import dataclasses

        profile = dataclasses.replace(profile, notes=(*profile.notes, *probe_notes))
    params = {
        **profile.params, "encoder": encoder, "task": task,
        "input": str(input_csv) if input_csv else None, "smiles_col": smiles_col,
        "rule": rule, "probe_results": str(probe_results) if probe_results else None,
        "device": device, "data_dir": str(data_dir) if data_dir else None,
    }
    files = write_outputs(profile, out, params=params, probe_results=probes, rule=rule)
    write_record(out, record)
    rec = None
    try:
        rec = profile.recommend_layer(rule)
    except ConfigError:
        pass
    console.print(
        f"analysed {profile.n_molecules} molecules x {profile.n_layers} layers of {profile.encoder}; "
        f"recommended layer ({rule}): {rec}"
    )
    for note in profile.notes:
        console.print(f"  note: {note}", highlight=False)
    console.print(f"wrote {files['report'].parent}/ (layer_metrics.csv, cka.csv, figures/, report.md, config.toml)")


def register(app: typer.Typer) -> None:
    """Add ``analyze`` to the ``molstrata`` app."""
    app.command("analyze")(analyze_command)
