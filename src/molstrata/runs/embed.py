"""The embed run (``molstrata embed``): every layer of an encoder for a task's or a CSV's
molecules, keyed and written to a run folder as one ``.npy`` per layer + ``molecules.csv`` +
``manifest.json`` + ``config.toml`` (format: :mod:`molstrata.embeddings.io`).

:func:`run_embed` checks the options and the molecules before loading a model, refuses another
run's folder (``run.json``: :mod:`molstrata.runs._record`), embeds through the cache
(:func:`molstrata.embeddings.embed_cached`) and writes the folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from molstrata import data as _data
from molstrata import embeddings as _embeddings
from molstrata import encoders as _encoders
from molstrata.core.config import save_config
from molstrata.core.embeddings import LayerEmbeddings
from molstrata.core.errors import ConfigError, InvalidSmilesError, check_choice
from molstrata.data._labels import file_lines
from molstrata.data.smiles import parse_smiles
from molstrata.data.user_csv import read_smiles_csv
from molstrata.encoders.pooling import Pooling
from molstrata.runs._record import (
    build_record,
    clear_run,
    encoder_identity,
    file_hashes,
    prepare_out,
    run_folder,
    split_inputs,
    write_record,
)
from molstrata.scale import from_cli


@dataclass(frozen=True)
class EmbedRun:
    """What an embed run wrote: ``embeddings`` (n_molecules rows per layer), the encoder's
    name and the folder ``out``."""

    embeddings: LayerEmbeddings
    encoder: str
    out: Path


@dataclass(frozen=True)
class _Molecules:
    """The molecules to embed, with their ids, split column, source and manifest extras."""

    smiles: list[str]
    ids: list | None
    split_col: list[str] | None
    source: str
    extra: dict[str, object]
    split: Any
    smiles_col: str | None


def _located(exc: InvalidSmilesError, mols: _Molecules, input_csv: Path | None) -> InvalidSmilesError:
    """``exc`` in the CLI's words: the file's line numbers for ``--input``, and the flag."""
    lines = file_lines(str(input_csv), exc.indices) if input_csv is not None else None
    return InvalidSmilesError(exc.indices, exc.smiles, source=mols.source, reasons=exc.reasons,
                              lines=lines, fix="pass --on-invalid mask")


def run_embed(
    encoder: str, *, out: Path, task: str | None = None, input_csv: Path | None = None,
    smiles_col: str | None = None, id_col: str | None = None, pooling: str | None = None,
    max_layer: int | None = None, batch_size: int | None = None, on_invalid: str = "raise",
    max_length: int | None = None, on_too_long: str = "warn", include_special: bool = False,
    seed: int = 1, random_init: bool = False, init_seed: int = 0, device: str | None = None,
    trust_remote_code: bool = False, trust_checkpoint: bool = False, no_cache: bool = False,
    data_dir: Path | None = None, executor_name: str = "local", overwrite: bool = False,
    ray_address: str = "auto",
) -> EmbedRun:
    """Embed a task's (``task``) or a CSV's (``input_csv``) molecules with every layer of
    ``encoder`` and write the run folder ``out``. Options as ``molstrata embed``."""
    _check_options(task, input_csv, on_invalid, on_too_long, executor_name, no_cache, pooling)
    out = run_folder(out, "embed", overwrite=overwrite)
    mols = _read_molecules(task, input_csv, smiles_col, id_col, seed, data_dir)
    smiles_col = mols.smiles_col
    if on_invalid == "raise":  # fail on bad rows before loading a model
        try:
            parse_smiles(mols.smiles, on_invalid="raise", source=mols.source)
        except InvalidSmilesError as exc:
            raise _located(exc, mols, input_csv) from None
    enc = _load(encoder, device, max_layer, random_init, init_seed, max_length, on_too_long,
                trust_remote_code, trust_checkpoint)
    record = build_record("embed", {  # the file by name: its sha256 is an input
        "encoder": encoder, "task": task, "input": input_csv.name if input_csv else None,
        "smiles_col": smiles_col,
        "id_col": id_col, "pooling": pooling, "max_layer": max_layer, "on_invalid": on_invalid,
        "max_length": max_length, "on_too_long": on_too_long, "include_special": include_special,
        "seed": seed, "random_init": random_init, "init_seed": init_seed if random_init else None,
    }, split_inputs(mols.split, data_dir) if task is not None else file_hashes({input_csv.name: input_csv}),
        {enc.name: encoder_identity(enc)})
    prepare_out(out, record, overwrite=overwrite)  # refuses another run before any work

    executor, executor_entry = from_cli(executor_name, ray_address)
    try:
        emb = _embeddings.embed_cached(
            enc, mols.smiles, pooling=pooling, on_invalid=on_invalid, batch_size=batch_size,
            include_special=include_special, use_cache=not no_cache, executor=executor,
        )
    except InvalidSmilesError as exc:
        raise _located(exc, mols, input_csv) from None
    columns: dict[str, list] = {}
    if mols.ids is not None:
        columns["id"] = mols.ids
    if mols.split_col is not None:
        columns["split"] = mols.split_col
    clear_run(out, "embed")  # this run's older files (other inputs may give other layers)
    _embeddings.write_embeddings(emb, out, columns=columns, extra=mols.extra)
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
    return EmbedRun(embeddings=emb, encoder=enc.name, out=out)


def _check_options(
    task: str | None, input_csv: Path | None, on_invalid: str, on_too_long: str,
    executor_name: str, no_cache: bool, pooling: str | None,
) -> None:
    """Refuse bad option values and combinations, naming the flag."""
    if (task is None) == (input_csv is None):
        raise ConfigError("give exactly one of --task or --input")
    check_choice("--on-invalid", on_invalid, ("raise", "mask"))
    check_choice("--on-too-long", on_too_long, ("warn", "raise"))
    if executor_name != "local" and no_cache:
        raise ConfigError(f"--executor {executor_name} shares the work out by cache chunks; drop --no-cache")
    if pooling is not None:
        check_choice("--pooling", pooling, [p.value for p in Pooling])


def _read_molecules(
    task: str | None, input_csv: Path | None, smiles_col: str | None, id_col: str | None,
    seed: int, data_dir: Path | None,
) -> _Molecules:
    """A task's train, valid and test molecules (in that order), or a CSV's."""
    if task is not None:
        split = _data.load_task(task, seed=seed, data_dir=data_dir)
        parts = [("train", split.train), ("valid", split.valid), ("test", split.test)]
        smiles = [s for _, df in parts for s in df["Drug"].tolist()]
        ids = [i for _, df in parts for i in df["Drug_ID"].tolist()]
        source = f"task {split.name}"
        extra: dict[str, object] = {"source": source, "task": split.name, "seed": seed}
        split_col = [p for p, df in parts for _ in range(len(df))]
        return _Molecules(smiles, ids, split_col, source, extra, split, smiles_col)
    smiles, ids, smiles_col = read_smiles_csv(input_csv, smiles_col, id_col)
    source = str(input_csv)
    extra = {"source": source, "smiles_col": smiles_col}
    return _Molecules(smiles, ids, None, source, extra, None, smiles_col)


def _load(
    encoder: str, device: str | None, max_layer: int | None, random_init: bool, init_seed: int,
    max_length: int | None, on_too_long: str, trust_remote_code: bool, trust_checkpoint: bool,
) -> Any:
    """Load the encoder, passing only the length options the user set (adapters without a
    length limit do not take them)."""
    options: dict[str, object] = {}
    if on_too_long != "warn":
        options["on_too_long"] = on_too_long
    if max_length is not None:
        options["max_length"] = max_length
    if random_init:
        options["seed"] = init_seed
    try:
        return _encoders.load_encoder(
            encoder, device=device, max_layer=max_layer, random_init=random_init,
            trust_remote_code=trust_remote_code, trust_checkpoint=trust_checkpoint, **options,
        )
    except TypeError as exc:
        if "unexpected keyword" not in str(exc) or not options:
            raise
        flags = ", ".join("--" + k.replace("_", "-") for k in options)
        raise ConfigError(f"encoder {encoder!r} does not accept {flags} ({exc})") from None
