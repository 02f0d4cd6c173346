"""``molstrata pretrain smiles|graph``: the recipes of the built-in encoders, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import typer

pretrain_app = typer.Typer(
    name="pretrain", no_args_is_help=True,
    help="Pretrain molstrata's own encoders (SMILES MLM or graph descriptor regression); resumable.",
)

_CORPUS_HELP = (
    "A corpus folder (train.txt/valid.txt/corpus.json) or SMILES files (.txt one per line, or .csv "
    "with a SMILES column); files are canonicalised, deduplicated and stripped of every TDC ADMET "
    "test molecule. Repeat the flag for several files."
)
_DATA_HELP = "Folder with admet_group/<task>/test.csv (molecules to remove); default MOLSTRATA_DATA_DIR."


def _check_corpus(corpus: list[Path]) -> None:
    from molstrata.core.errors import DataNotFoundError

    for path in corpus:
        if not path.exists():
            raise DataNotFoundError(f"--corpus {path}: no such file or folder")


def _print_summary(summary: dict, out: Path) -> None:
    shown = {k: v for k, v in summary.items() if k not in ("corpus", "config")}
    typer.echo(json.dumps(shown, indent=2))
    typer.echo(f"model folder: {out / 'model'}  (resume with the same command plus --resume)")


@pretrain_app.command("smiles")
def smiles_command(
    corpus: list[Path] = typer.Option(..., "--corpus", help=_CORPUS_HELP),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoint/, model/, log.jsonl, summary.json."),
    steps: int = typer.Option(2000, "--steps", min=1, help="Optimizer steps of the whole schedule."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Molecules per step."),
    lr: float = typer.Option(5e-4, "--lr", help="Peak AdamW learning rate (linear warm-up and decay)."),
    layers: int = typer.Option(6, "--layers", min=1, help="Transformer blocks."),
    hidden: int = typer.Option(256, "--hidden", min=8, help="Hidden size."),
    heads: int = typer.Option(4, "--heads", min=1, help="Attention heads."),
    intermediate: int = typer.Option(512, "--intermediate", min=8, help="Feed-forward size."),
    max_length: int = typer.Option(128, "--max-length", min=8, help="Longest input in tokens."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="Stop cleanly (and save) after this wall time."),
    checkpoint_minutes: float = typer.Option(5.0, "--checkpoint-minutes", help="Minutes between checkpoints."),
    eval_every: int = typer.Option(100, "--eval-every", min=1, help="Steps between held-out evaluations."),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation, batches and masks."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch CPU threads."),
    data_dir: Path = typer.Option(None, "--data-dir", help=_DATA_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoint."),
) -> None:
    """Masked-language-model pretraining of a RoBERTa SMILES encoder (regex tokenizer)."""
    from molstrata.pretrain.smiles_mlm import SmilesMLMConfig, train_smiles_mlm

    _check_corpus(corpus)
    cfg = SmilesMLMConfig(
        steps=steps, batch_size=batch_size, lr=lr, num_layers=layers, hidden_size=hidden,
        num_heads=heads, intermediate_size=intermediate, max_length=max_length,
        max_minutes=max_minutes, checkpoint_minutes=checkpoint_minutes, eval_every=eval_every,
        seed=seed, threads=threads,
    )
    summary = train_smiles_mlm(list(corpus), out, cfg, data_dir=data_dir, resume=resume)
    _print_summary(summary, out)


@pretrain_app.command("graph")
def graph_command(
    corpus: list[Path] = typer.Option(..., "--corpus", help=_CORPUS_HELP),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoint/, model/, log.jsonl, summary.json."),
    steps: int = typer.Option(1000, "--steps", min=1, help="Optimizer steps of the whole schedule."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Molecules per step."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak AdamW learning rate (linear warm-up and decay)."),
    layers: int = typer.Option(5, "--layers", min=1, help="GINE message-passing blocks."),
    hidden: int = typer.Option(256, "--hidden", min=8, help="Hidden size."),
    stats_molecules: int = typer.Option(
        2000, "--stats-molecules", min=2, help="Training molecules whose descriptors fix the standardisation."
    ),
    max_minutes: float = typer.Option(None, "--max-minutes", help="Stop cleanly (and save) after this wall time."),
    checkpoint_minutes: float = typer.Option(5.0, "--checkpoint-minutes", help="Minutes between checkpoints."),
    eval_every: int = typer.Option(100, "--eval-every", min=1, help="Steps between held-out evaluations."),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation and batches."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch CPU threads."),
    data_dir: Path = typer.Option(None, "--data-dir", help=_DATA_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoint."),
) -> None:
    """Label-free GINE pretraining by regression of standardised RDKit descriptors."""
    from molstrata.pretrain.graph import GraphPretrainConfig, train_graph

    _check_corpus(corpus)
    cfg = GraphPretrainConfig(
        steps=steps, batch_size=batch_size, lr=lr, num_layers=layers, hidden=hidden,
        stats_molecules=stats_molecules, max_minutes=max_minutes, checkpoint_minutes=checkpoint_minutes, eval_every=eval_every,
        seed=seed, threads=threads,
    )
    summary = train_graph(list(corpus), out, cfg, data_dir=data_dir, resume=resume)
    _print_summary(summary, out)


def register(app: typer.Typer) -> None:
    """Add ``molstrata pretrain smiles|graph`` to the CLI."""
    app.add_typer(pretrain_app, name="pretrain")
