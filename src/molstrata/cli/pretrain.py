"""``molstrata pretrain smiles|graph``: the recipes of the built-in encoders, resumable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

pretrain_app = typer.Typer(
    name="pretrain", no_args_is_help=True,
    help="Pretrain molstrata's own encoders (SMILES MLM or graph descriptor regression); resumable.",
)

_CORPUS_HELP = (
    "A corpus folder (train.txt, valid.txt, corpus.json) or SMILES files (.txt one per line, or .csv "
    "with a SMILES column); files are canonicalised, deduplicated and stripped of every TDC ADMET "
    "test molecule. Repeat the flag for several files."
)
_DATA_HELP = "Folder with admet_group/<task>/ holding test.csv (molecules to remove); default MOLSTRATA_DATA_DIR."


# options both recipes share (one definition each, so their flags and help stay the same)
_CORPUS = typer.Option(..., "--corpus", help=_CORPUS_HELP)
_OUT = typer.Option(..., "--out", "-o", help="Run folder: checkpoint/, model/, log.jsonl, summary.json.")
_BATCH_SIZE = typer.Option(64, "--batch-size", min=1, help="Molecules per step.")
_HIDDEN = typer.Option(256, "--hidden", min=8, help="Hidden size.")
_MAX_MINUTES = typer.Option(None, "--max-minutes", help="Stop cleanly (and save) after this wall time.")
_CHECKPOINT_MINUTES = typer.Option(5.0, "--checkpoint-minutes", help="Minutes between checkpoints.")
_EVAL_EVERY = typer.Option(100, "--eval-every", min=1, help="Steps between held-out evaluations.")
_THREADS = typer.Option(1, "--threads", min=1, help="torch CPU threads.")
_DATA_DIR = typer.Option(None, "--data-dir", help=_DATA_HELP)
_RESUME = typer.Option(False, "--resume", help="Continue from OUT/checkpoint.")


def _steps(default: int) -> Any:
    return typer.Option(default, "--steps", min=1, help="Optimizer steps of the whole schedule.")


def _lr(default: float) -> Any:
    return typer.Option(default, "--lr", help="Peak AdamW learning rate (linear warm-up and decay).")


def _run(train: Callable[..., dict], corpus: list[Path], out: Path, cfg: Any, data_dir: Path | None,
         resume: bool) -> None:
    """Check the corpus paths, run the recipe ``train`` and print its summary."""
    from molstrata.core.errors import DataNotFoundError

    for path in corpus:
        if not path.exists():
            raise DataNotFoundError(f"--corpus {path}: no such file or folder")
    summary = train(list(corpus), out, cfg, data_dir=data_dir, resume=resume)
    shown = {k: v for k, v in summary.items() if k not in ("corpus", "config")}
    typer.echo(json.dumps(shown, indent=2))
    typer.echo(f"model folder: {out / 'model'}  (resume with the same command plus --resume)")


@pretrain_app.command("smiles")
def smiles_command(
    corpus: list[Path] = _CORPUS,
    out: Path = _OUT,
    steps: int = _steps(2000),
    batch_size: int = _BATCH_SIZE,
    lr: float = _lr(5e-4),
    layers: int = typer.Option(6, "--layers", min=1, help="Transformer blocks."),
    hidden: int = _HIDDEN,
    heads: int = typer.Option(4, "--heads", min=1, help="Attention heads."),
    intermediate: int = typer.Option(512, "--intermediate", min=8, help="Feed-forward size."),
    max_length: int = typer.Option(128, "--max-length", min=8, help="Longest input in tokens."),
    max_minutes: float = _MAX_MINUTES,
    checkpoint_minutes: float = _CHECKPOINT_MINUTES,
    eval_every: int = _EVAL_EVERY,
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of initialisation, batches and masks."),
    threads: int = _THREADS,
    data_dir: Path = _DATA_DIR,
    resume: bool = _RESUME,
    init_from: Path = typer.Option(
        None, "--init-from",
        help="Warm start from an exported MLM folder (e.g. the shipped molstrata-smiles): its "
             "tokenizer and weights, a fresh optimizer and schedule (a new pretraining stage).",
    ),
) -> None:
    """Masked-language-model pretraining of a RoBERTa SMILES encoder (regex tokenizer)."""
    from molstrata.pretrain.smiles_mlm import SmilesMLMConfig, train_smiles_mlm

    cfg = SmilesMLMConfig(
        steps=steps, batch_size=batch_size, lr=lr, num_layers=layers, hidden_size=hidden,
        num_heads=heads, intermediate_size=intermediate, max_length=max_length,
        max_minutes=max_minutes, checkpoint_minutes=checkpoint_minutes, eval_every=eval_every,
        seed=seed, threads=threads, init_from=str(init_from) if init_from else None,
    )
    _run(train_smiles_mlm, corpus, out, cfg, data_dir, resume)


@pretrain_app.command("graph")
def graph_command(
    corpus: list[Path] = _CORPUS,
    out: Path = _OUT,
    steps: int = _steps(1000),
    batch_size: int = _BATCH_SIZE,
    lr: float = _lr(1e-3),
    layers: int = typer.Option(5, "--layers", min=1, help="GINE message-passing blocks."),
    hidden: int = _HIDDEN,
    stats_molecules: int = typer.Option(
        2000, "--stats-molecules", min=2, help="Training molecules whose descriptors fix the standardisation."
    ),
    max_minutes: float = _MAX_MINUTES,
    checkpoint_minutes: float = _CHECKPOINT_MINUTES,
    eval_every: int = _EVAL_EVERY,
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of initialisation and batches."),
    threads: int = _THREADS,
    data_dir: Path = _DATA_DIR,
    resume: bool = _RESUME,
    supervise: str = typer.Option(
        "every-layer", "--supervise",
        help="Where the descriptor heads read: 'every-layer' (a linear head on each message-passing "
             "layer, the shipped recipe) or 'last' (an MLP on the last layer only).",
    ),
) -> None:
    """Label-free GINE pretraining by regression of standardised RDKit descriptors."""
    from molstrata.pretrain.graph import GraphPretrainConfig, train_graph

    cfg = GraphPretrainConfig(
        steps=steps, batch_size=batch_size, lr=lr, num_layers=layers, hidden=hidden,
        stats_molecules=stats_molecules, max_minutes=max_minutes, checkpoint_minutes=checkpoint_minutes,
        eval_every=eval_every, seed=seed, threads=threads, supervise=supervise,
    )
    _run(train_graph, corpus, out, cfg, data_dir, resume)


def register(app: typer.Typer) -> None:
    """Add ``molstrata pretrain smiles|graph`` to the CLI."""
    app.add_typer(pretrain_app, name="pretrain")
