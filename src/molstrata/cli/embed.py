"""``molstrata embed``: every layer of an encoder for a task's or a CSV's molecules, written
as one ``.npy`` per layer + ``molecules.csv`` + ``manifest.json`` + ``config.toml``
(format: :mod:`molstrata.embeddings.io`; the run: :mod:`molstrata.runs.embed`)."""

from __future__ import annotations

from pathlib import Path

import typer

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


def embed_command(
    ctx: typer.Context,
    encoder: str = typer.Option(..., "--encoder", "-e", callback=check_encoders, help="Registered name (molstrata encoders), HF model folder or hub id."),
    task: str | None = typer.Option(None, "--task", "-t", help="A task (molstrata tasks): embeds its train, valid and test molecules (no labels written)."),
    input_csv: Path | None = typer.Option(None, "--input", "-i", help="CSV with a SMILES column (instead of --task)."),
    smiles_col: str | None = typer.Option(None, "--smiles-col", help="SMILES column of --input (default: the first of smiles, SMILES, Smiles, Drug, canonical_smiles, mol)."),
    id_col: str | None = typer.Option(None, "--id-col", help="Column of --input copied to molecules.csv as 'id'."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: layer_*.npy, molecules.csv, manifest.json, config.toml."),
    pooling: str | None = typer.Option(None, "--pooling", "-p", help=pooling_help("the encoder's, mean for transformers")),
    max_layer: int | None = typer.Option(None, "--max-layer", min=1, help="Build the encoder with only its first K blocks."),
    batch_size: int | None = typer.Option(None, "--batch-size", "-b", min=1, help="Molecules per batch (default: a token budget)."),
    on_invalid: str = typer.Option("raise", "--on-invalid", help="raise (list bad rows and stop) | mask (NaN rows, valid=False)."),
    max_length: int | None = typer.Option(None, "--max-length", min=2, help="Longest input in tokens (default: the model's limit)."),
    on_too_long: str = typer.Option("warn", "--on-too-long", help="warn (cut and report the rows) | raise."),
    include_special: bool = typer.Option(False, "--include-special", help="Pool special tokens (<s>, </s>) too."),
    seed: int = typer.Option(1, "--seed", min=0, help="Split seed of --task (the molecules are the same for every seed)."),
    random_init: bool = typer.Option(False, "--random-init", help="Same architecture, fresh random weights (seeded by --init-seed)."),
    init_seed: int = typer.Option(0, "--init-seed", min=0, help="Seed of --random-init."),
    device: str | None = device_option(),
    trust_remote_code: bool = trust_remote_code_option(),
    trust_checkpoint: bool = trust_checkpoint_option(),
    no_cache: bool = no_cache_option(),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data folder for --task (default MOLSTRATA_DATA_DIR)."),
    executor_name: str = typer.Option("local", "--executor", help="local (this process) | ray (one Ray task per cache chunk; pip install 'molstrata[ray]')."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace another run in --out (only molstrata's files of it are removed)."),
    ray_address: str = ray_address_option(),
    rerun_config: Path | None = _rerun.CONFIG,
) -> None:
    """Embed molecules with every layer of an encoder and write them to --out."""
    _rerun.remember_invocation(ctx)
    from molstrata.core.progress import stderr_console
    from molstrata.runs.embed import run_embed

    run = run_embed(
        encoder, out=out, task=task, input_csv=input_csv, smiles_col=smiles_col, id_col=id_col,
        pooling=pooling, max_layer=max_layer, batch_size=batch_size, on_invalid=on_invalid,
        max_length=max_length, on_too_long=on_too_long, include_special=include_special,
        seed=seed, random_init=random_init, init_seed=init_seed, device=device,
        trust_remote_code=trust_remote_code, trust_checkpoint=trust_checkpoint,
        no_cache=no_cache, data_dir=data_dir, executor_name=executor_name, overwrite=overwrite,
        ray_address=ray_address,
    )
    emb = run.embeddings
    n_bad = int((~emb.valid).sum())
    stderr_console().print(
        f"{emb.n_molecules} molecules x {emb.n_layers} layers (dims {sorted(set(emb.dims))}) "
        f"from {run.encoder} -> {run.out}"
        + (f"; {n_bad} invalid rows (NaN, see molecules.csv)" if n_bad else "")
        + (f"; {emb.meta['n_truncated']} inputs cut at max_length" if emb.meta.get("n_truncated") else ""),
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``embed`` to the ``molstrata`` app."""
    app.command("embed")(embed_command)
