"""``molstrata finetune``: finetune an encoder truncated at several depths, honestly."""

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
    ray_address_option,
    trust_checkpoint_option,
    trust_remote_code_option,
)

#: defaults when --epochs / --lrs / --patience are not given: GPU runs get the paper's grid
GPU_EPOCHS, CPU_EPOCHS = 20, 5
GPU_PATIENCE, CPU_PATIENCE = 3, 2
GPU_LRS, CPU_LRS = "1e-5,2e-5,5e-5,1e-4,2e-4", "5e-5,1e-4,2e-4"


def _floats(text: str, flag: str) -> list[float]:
    from molstrata.core.errors import ConfigError

    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"invalid {flag} {text!r}: expected comma-separated numbers") from None
    if not values or any(v <= 0 for v in values):
        raise ConfigError(f"invalid {flag} {text!r}: expected positive numbers")
    return values


def finetune_command(
    ctx: typer.Context,
    encoder: str = typer.Option("default", "--encoder", "-e", callback=check_encoders, help="Registered encoder name, HF model folder or hub id."),
    task: str | None = typer.Option(None, "--task", "-t", help="A task name (molstrata tasks), or several comma-separated (each in OUT/<task>/, combined tables in OUT); or --input."),
    layers: str = typer.Option("auto", "--layers", "-l", help="auto (top-m depths by frozen-probe VALIDATION score + the final layer) | all | k1,k2 (the final layer is always added as baseline)."),
    seeds: str = typer.Option("1,2,3", "--seeds", "-s", help="Split seeds, e.g. 1,2,3 or 1-3 (TDC's protocol: 1-5)."),
    lrs: str | None = typer.Option(None, "--lrs", help=f"Learning-rate grid, swept per (depth, seed); best (lr, epoch) chosen on validation. Default: {GPU_LRS.replace(',', ', ')} on GPU (the paper's), {CPU_LRS.replace(',', ', ')} on CPU."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help=f"Max epochs per learning rate (default {GPU_EPOCHS} on GPU, {CPU_EPOCHS} on CPU)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Molecules per optimizer step."),
    grad_accum: int = typer.Option(1, "--grad-accum", min=1, help="Micro-batches per optimizer step (same gradient, less memory)."),
    patience: int | None = typer.Option(None, "--patience", min=1, help=f"Early stopping: epochs without a better validation score (default {GPU_PATIENCE} on GPU, {CPU_PATIENCE} on CPU)."),
    weight_decay: float = typer.Option(0.01, "--weight-decay", min=0.0, help="AdamW weight decay."),
    top_m: int = typer.Option(2, "--top-m", min=0, help="With --layers auto: how many truncated depths to finetune."),
    pooling: str | None = typer.Option(None, "--pooling", help="Pooling of the last kept layer: " + pooling_help()),
    head_hidden: int = typer.Option(256, "--head-hidden", min=0, help="Hidden width of the head (0: linear head)."),
    head_dropout: float = typer.Option(0.1, "--head-dropout", min=0.0, max=0.99, help="Dropout in the head."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (a rerun with the same options resumes it)."),
    device: str | None = device_option(),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data folder (default MOLSTRATA_DATA_DIR)."),
    keep_checkpoints: bool = typer.Option(False, "--keep-checkpoints", help="Keep per-epoch checkpoints after each sweep."),
    trust_checkpoint: bool = trust_checkpoint_option(),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads for torch (default: torch's)."),
    executor_name: str = typer.Option("local", "--executor", help="local (this process) | ray (one Ray task per (depth, seed, lr) trial, --out on a shared filesystem; pip install 'molstrata[ray]')."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run in --out (only molstrata's files of it are removed); needed when its data changed."),
    ray_address: str = ray_address_option(),
    no_cache: bool = no_cache_option(),
    input_csv: Path | None = _csv.INPUT, smiles_col: str | None = _csv.SMILES_COL,
    target_col: list[str] | None = _csv.TARGET_COL, task_type: str | None = _csv.TASK_TYPE,
    id_col: str | None = _csv.ID_COL, split: str = _csv.SPLIT, metric: str | None = _csv.METRIC,
    task_name: str | None = _csv.TASK_NAME,
    rerun_config: Path | None = _rerun.CONFIG,
    trust_remote_code: bool = trust_remote_code_option(),
) -> None:
    """Finetune truncated encoders with an LR sweep chosen on validation; write tables,
    figures, leaderboard.json and report.md."""
    _rerun.remember_invocation(ctx)
    import torch
    from rich.console import Console

    from molstrata.core.device import resolve_device
    from molstrata.core.seed import parse_seeds
    from molstrata.finetune import HeadConfig, TrainConfig
    from molstrata.runs.finetune import run_finetune_tasks
    from molstrata.scale import from_cli

    user = _csv.csv_task_from_flags(input_csv, smiles_col=smiles_col, target_cols=target_col,
                                    task_type=task_type, id_col=id_col, split=split,
                                    metric=metric, task_name=task_name)
    if task is None and user is None:
        from molstrata.core.errors import ConfigError

        raise ConfigError("give --task NAME[,NAME...] or --input FILE (with --target-col, --task-type)")
    task_list = [*(task.split(",") if task else []), *([user] if user else [])]
    if threads is not None:
        torch.set_num_threads(threads)
    on_gpu = resolve_device(device).startswith("cuda")
    config = TrainConfig(
        epochs=epochs or (GPU_EPOCHS if on_gpu else CPU_EPOCHS), batch_size=batch_size,
        grad_accum=grad_accum, patience=patience or (GPU_PATIENCE if on_gpu else CPU_PATIENCE),
        weight_decay=weight_decay,
    )
    if lrs is None:
        lrs = GPU_LRS if on_gpu else CPU_LRS
        if not on_gpu:
            Console(stderr=True).print(
                f"[yellow]note:[/] no GPU: sweeping learning rates {CPU_LRS}, at most "
                f"{config.epochs} epochs each (pass --lrs {GPU_LRS} for the paper's grid)"
            )
    res = run_finetune_tasks(
        encoder, task_list, layers=layers, seeds=parse_seeds(seeds),
        lrs=_floats(lrs, "--lrs"), config=config,
        head=HeadConfig(hidden=head_hidden, dropout=head_dropout), pooling=pooling,
        top_m=top_m, out=out, data_dir=data_dir, device=device,
        keep_checkpoints=keep_checkpoints, executor=from_cli(executor_name, ray_address)[0],
        trust_checkpoint=trust_checkpoint,
        overwrite=overwrite,
        use_cache=not no_cache, trust_remote_code=trust_remote_code,
    )
    from molstrata.report.tables import format_pct

    console = Console()
    for row in res["summary"].itertuples(index=False):
        console.print(
            f"  {row.task} ({row.metric}) layer {row.layer}: {row.test_mean:.4f} ± "
            f"{row.test_std:.4f}  Δ% vs full {format_pct(row.delta_pct)}  (frozen probe "
            f"{row.frozen_test_mean:.4f})"
        )
    from molstrata.finetune.report import worse_than_frozen

    for line in worse_than_frozen(res["summary"]):
        console.print(line.removeprefix("- ").replace("**", ""), highlight=False)
    corr = res["correlations"]
    if isinstance(corr, dict):
        from molstrata.finetune.report import r_text

        console.print(f"frozen vs finetuned Pearson r (test, {corr['n_layers']} depths): "
                      f"{r_text(corr['pearson_test'], corr['n_layers'])}")
    console.print(f"wrote {res.get('out', out)}/report.md")


def register(app: typer.Typer) -> None:
    """Add ``finetune`` to the ``molstrata`` app."""
    app.command("finetune")(finetune_command)
