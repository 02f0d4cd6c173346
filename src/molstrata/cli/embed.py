"""``molstrata embed``: every layer of an encoder for a task's or a CSV's molecules, written
as one ``.npy`` per layer + ``molecules.csv`` + ``manifest.json`` + ``config.toml``
(format: :mod:`molstrata.embeddings.io`)."""

from __future__ import annotations

from pathlib import Path

import typer


def embed_command(
    encoder: str = typer.Option(..., "--encoder", "-e", help="Registered name (molstrata encoders), HF model folder or hub id."),
    task: str | None = typer.Option(None, "--task", "-t", help="A task (molstrata tasks): embeds its train, valid and test molecules (no labels written)."),
    input_csv: Path | None = typer.Option(None, "--input", "-i", help="CSV with a SMILES column (instead of --task)."),
    smiles_col: str | None = typer.Option(None, "--smiles-col", help="SMILES column of --input (default: the first of smiles/SMILES/Smiles/Drug/canonical_smiles/mol)."),
    id_col: str | None = typer.Option(None, "--id-col", help="Column of --input copied to molecules.csv as 'id'."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: layer_*.npy, molecules.csv, manifest.json, config.toml."),
    pooling: str | None = typer.Option(None, "--pooling", "-p", help="mean | max | sum | cls (default: the encoder's, mean for transformers)."),
    max_layer: int | None = typer.Option(None, "--max-layer", min=1, help="Build the encoder with only its first K blocks."),
    batch_size: int | None = typer.Option(None, "--batch-size", "-b", min=1, help="Molecules per batch (default: a token budget)."),
    on_invalid: str = typer.Option("raise", "--on-invalid", help="raise (list bad rows and stop) | mask (NaN rows, valid=False)."),
    max_length: int | None = typer.Option(None, "--max-length", min=2, help="Longest input in tokens (default: the model's limit)."),
    on_too_long: str = typer.Option("warn", "--on-too-long", help="warn (cut and report the rows) | raise."),
    include_special: bool = typer.Option(False, "--include-special", help="Pool special tokens (<s>, </s>) too."),
    seed: int = typer.Option(1, "--seed", help="Split seed of --task (the molecules are the same for every seed)."),
    random_init: bool = typer.Option(False, "--random-init", help="Same architecture, fresh random weights (seeded by --init-seed)."),
    init_seed: int = typer.Option(0, "--init-seed", help="Seed of --random-init."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda... (default: CUDA when available)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Let a model folder run its own Python code."),
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help="Unpickle checkpoints that name Python globals outside molstrata's allowlist, or legacy (non-zip) torch files: runs any code in them, so only for files you trust."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the embeddings cache (MOLSTRATA_CACHE_DIR)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data folder for --task (default MOLSTRATA_DATA_DIR)."),
    executor_name: str = typer.Option("local", "--executor", help="local (this process) | ray (one Ray task per cache chunk; pip install 'molstrata[ray]')."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace another run in --out (only molstrata's files of it are removed)."),
    ray_address: str = typer.Option("auto", "--ray-address", help="With --executor ray: 'auto' joins the running cluster (RAY_ADDRESS, or `ray start --head` on this machine), else starts a local Ray instance; or host:port / ray://host:10001."),
) -> None:
    """Embed molecules with every layer of an encoder and write them to --out."""
    from rich.console import Console

    from molstrata.core.config import save_config
    from molstrata.core.errors import ConfigError, check_choice
    from molstrata.data.user_csv import read_smiles_csv
    from molstrata.embeddings import embed_cached, write_embeddings
    from molstrata.encoders import load_encoder

    if (task is None) == (input_csv is None):
        raise ConfigError("give exactly one of --task or --input")
    check_choice("--on-invalid", on_invalid, ("raise", "mask"))
    check_choice("--on-too-long", on_too_long, ("warn", "raise"))
    if executor_name != "local" and no_cache:
        raise ConfigError(f"--executor {executor_name} shares the work out by cache chunks; drop --no-cache")
    if pooling is not None:
        from molstrata.encoders.pooling import Pooling

        check_choice("--pooling", pooling, [p.value for p in Pooling])
    extra: dict[str, object] = {}
    split_col: list[str] | None = None
    if task is not None:
        from molstrata.data import load_task

        split = load_task(task, seed=seed, data_dir=data_dir)
        parts = [("train", split.train), ("valid", split.valid), ("test", split.test)]
        smiles = [s for _, df in parts for s in df["Drug"].tolist()]
        ids = [i for _, df in parts for i in df["Drug_ID"].tolist()]
        source = f"task {split.name}"
        extra = {"source": source, "task": split.name, "seed": seed}
        split_col = [p for p, df in parts for _ in range(len(df))]
    else:
        smiles, ids, smiles_col = read_smiles_csv(input_csv, smiles_col, id_col)
        source = str(input_csv)
        extra = {"source": source, "smiles_col": smiles_col}

    if on_invalid == "raise":  # fail on bad rows before loading a model
        from molstrata.data.smiles import parse_smiles

        parse_smiles(smiles, on_invalid="raise", source=source)
    # only options the user set: adapters without a length limit do not take them
    options: dict[str, object] = {}
    if on_too_long != "warn":
        options["on_too_long"] = on_too_long
    if max_length is not None:
        options["max_length"] = max_length
    if random_init:
        options["seed"] = init_seed
    try:
        enc = load_encoder(
            encoder, device=device, max_layer=max_layer, random_init=random_init,
            trust_remote_code=trust_remote_code, trust_checkpoint=trust_checkpoint, **options,
        )
    except TypeError as exc:
        if "unexpected keyword" not in str(exc) or not options:
            raise
        flags = ", ".join("--" + k.replace("_", "-") for k in options)
        raise ConfigError(f"encoder {encoder!r} does not accept {flags} ({exc})") from None
    from molstrata.core.errors import InvalidSmilesError
    from molstrata.runs._record import (
        build_record,
        clear_run,
        encoder_identity,
        file_hashes,
        prepare_out,
        split_inputs,
        write_record,
    )
    from molstrata.scale import from_cli

    record = build_record("embed", {
        "encoder": encoder, "task": task, "input": input_csv, "smiles_col": smiles_col,
        "id_col": id_col, "pooling": pooling, "max_layer": max_layer, "on_invalid": on_invalid,
        "max_length": max_length, "on_too_long": on_too_long, "include_special": include_special,
        "seed": seed, "random_init": random_init, "init_seed": init_seed if random_init else None,
    }, split_inputs(split, data_dir) if task is not None else file_hashes({input_csv.name: input_csv}),
        {enc.name: encoder_identity(enc)})
    prepare_out(out, record, overwrite=overwrite)  # refuses another run before any work

    executor, executor_entry = from_cli(executor_name, ray_address)
    try:
        emb = embed_cached(
            enc, smiles, pooling=pooling, on_invalid=on_invalid, batch_size=batch_size,
            include_special=include_special, use_cache=not no_cache, executor=executor,
        )
    except InvalidSmilesError as exc:
        raise InvalidSmilesError(exc.indices, exc.smiles, source=source) from None
    columns: dict[str, list] = {}
    if ids is not None:
        columns["id"] = ids
    if split_col is not None:
        columns["split"] = split_col
    clear_run(out, "embed")  # this run's older files (other inputs may give other layers)
    write_embeddings(emb, out, columns=columns, extra=extra)
    write_record(out, record)
    save_config(out, "embed", {
        "encoder": encoder, "task": task, "input": input_csv, "smiles_col": smiles_col,
        "id_col": id_col, "pooling": emb.pooling, "max_layer": max_layer, "batch_size": batch_size,
        "on_invalid": on_invalid, "max_length": enc.max_length, "on_too_long": on_too_long,
        "include_special": include_special, "seed": seed, "random_init": random_init,
        "init_seed": init_seed if random_init else None, "device": device,
        "trust_remote_code": trust_remote_code, "trust_checkpoint": trust_checkpoint,
        "no_cache": no_cache, "data_dir": data_dir,
        "executor": executor_entry,
    })
    n_bad = int((~emb.valid).sum())
    console = Console(stderr=True)
    console.print(
        f"{emb.n_molecules} molecules x {emb.n_layers} layers (dims {sorted(set(emb.dims))}) "
        f"from {enc.name} -> {out}"
        + (f"; {n_bad} invalid rows (NaN, see molecules.csv)" if n_bad else "")
        + (f"; {emb.meta['n_truncated']} inputs cut at max_length" if emb.meta.get("n_truncated") else ""),
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("embed")(embed_command)
