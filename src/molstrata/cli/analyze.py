"""``molstrata analyze``: label-free information flow across an encoder's depth."""

from __future__ import annotations

from pathlib import Path

import typer

from molstrata.cli import _csvopts as _csv
from molstrata.cli import _rerun
from molstrata.cli._options import (
    check_encoders,
    device_option,
    no_cache_option,
    pooling_help,
    trust_checkpoint_option,
    trust_remote_code_option,
)


def analyze_command(
    ctx: typer.Context,
    encoder: str = typer.Option(..., "--encoder", "-e", callback=check_encoders, help="Registered encoder name, HF model folder or hub id."),
    task: str | None = typer.Option(None, "--task", "-t", help="A task (molstrata tasks); its train+valid molecules are analysed, never the test set."),
    input_csv: Path | None = typer.Option(None, "--input", "-i", help="CSV with a SMILES column (instead of --task); with --target-col and --task-type a labelled task (its train+valid are analysed)."),
    smiles_col: str | None = typer.Option(None, "--smiles-col", help="SMILES column of --input (default: smiles, SMILES, Drug...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder for layer_metrics.csv, cka.csv, figures/, report.md, config.toml."),
    max_molecules: int = typer.Option(2000, "--max-molecules", min=4, help="Seeded subsample size when there are more molecules."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seeds subsamples, augmentations and permutations."),
    pooling: str | None = typer.Option(None, "--pooling", help=pooling_help()),
    metrics: str | None = typer.Option(None, "--metrics", help="Comma-separated subset of metrics (default: all)."),
    token_molecules: int = typer.Option(500, "--token-molecules", min=1, help="Molecules for token entropy/curvature."),
    aug_molecules: int = typer.Option(256, "--aug-molecules", min=4, help="Molecules for InfoNCE/LiDAR/DiME."),
    n_augmentations: int = typer.Option(16, "--n-augmentations", min=2, help="Views per molecule for LiDAR."),
    augmentation: str = typer.Option("auto", "--augmentation", help="auto | random_smiles | atom_mask."),
    cka: str = typer.Option("linear", "--cka", help="linear | debiased | minibatch."),
    rule: str = typer.Option("dataset_entropy", "--rule", help="Label-free recommendation rule."),
    probe_results: Path | None = typer.Option(None, "--probe-results", help="probe_results.csv of the same encoder: adds metric-probe correlations and regret."),
    device: str | None = device_option(),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data folder for --task (default MOLSTRATA_DATA_DIR)."),
    trust_checkpoint: bool = trust_checkpoint_option(),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace another run in --out (only molstrata's files of it are removed)."),
    no_cache: bool = no_cache_option(),
    target_col: list[str] | None = _csv.TARGET_COL, task_type: str | None = _csv.TASK_TYPE,
    id_col: str | None = _csv.ID_COL, split: str = _csv.SPLIT, metric: str | None = _csv.METRIC,
    task_name: str | None = _csv.TASK_NAME,
    rerun_config: Path | None = _rerun.CONFIG,
    on_invalid: str = typer.Option("raise", "--on-invalid", help="raise (list the invalid SMILES and stop) | mask (analyse the valid ones; the others go to notes/molecules.csv)."),
    trust_remote_code: bool = trust_remote_code_option(),
) -> None:
    """Entropy, effective rank, curvature, CKA and invariance metrics for every layer."""
    _rerun.remember_invocation(ctx)
    from molstrata.core.progress import stderr_console
    from molstrata.runs.analyze import run_analyze

    chosen = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    labelled = target_col or task_type or task_name or metric  # --input as a task, not SMILES
    user = _csv.csv_task_from_flags(input_csv if labelled else None, smiles_col=smiles_col,
                                    target_cols=target_col, task_type=task_type, id_col=id_col,
                                    split=split, metric=metric, task_name=task_name)
    if user is not None and task is not None:
        from molstrata.core.errors import ConfigError

        raise ConfigError("give exactly one of --task or --input")
    run = run_analyze(
        encoder, out=out, task=user or task, input_csv=None if user else input_csv, smiles_col=smiles_col,
        max_molecules=max_molecules, seed=seed, pooling=pooling, metrics=chosen,
        token_molecules=token_molecules, aug_molecules=aug_molecules,
        n_augmentations=n_augmentations, augmentation=augmentation, cka=cka, rule=rule,
        probe_results=probe_results, device=device, data_dir=data_dir,
        trust_checkpoint=trust_checkpoint, overwrite=overwrite, use_cache=not no_cache,
        trust_remote_code=trust_remote_code, on_invalid=on_invalid,
    )
    profile, console = run.profile, stderr_console()
    console.print(
        f"analysed {profile.n_molecules} molecules x {profile.n_layers} layers of {profile.encoder}; "
        f"recommended layer ({rule}): {run.recommended}"
    )
    for note in profile.notes:
        console.print(f"  note: {note}", highlight=False)
    console.print(f"wrote {run.files['report'].parent}/ (layer_metrics.csv, cka.csv, figures/, report.md, config.toml)")


def register(app: typer.Typer) -> None:
    """Add ``analyze`` to the ``molstrata`` app."""
    app.command("analyze")(analyze_command)
