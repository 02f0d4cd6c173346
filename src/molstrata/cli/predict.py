"""``molstrata predict``: a probe run's saved predictor applied to the molecules of a CSV."""

from __future__ import annotations

from pathlib import Path

import typer

from molstrata.cli._options import (
    check_encoders,
    device_option,
    no_cache_option,
    trust_checkpoint_option,
    trust_remote_code_option,
)


def predict_command(
    model: Path = typer.Option(..., "--model", "-m", help="A molstrata probe run folder (its models/ hold the saved predictors)."),
    task: str | None = typer.Option(None, "--task", "-t", help="The task whose predictor to use (may be left out when the run has one)."),
    seed: int | None = typer.Option(None, "--seed", "-s", min=0, help="Use this seed's predictor (default: the average of every seed's, a seed ensemble)."),
    input_csv: Path = typer.Option(..., "--input", "-i", help="CSV of the molecules to predict."),
    smiles_col: str | None = typer.Option(None, "--smiles-col", help="SMILES column of --input (default: the first of smiles, SMILES, Smiles, Drug, canonical_smiles, mol)."),
    id_col: str | None = typer.Option(None, "--id-col", help="Column of --input copied to the output as 'id' (default: the data row number)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output CSV: id, smiles, y_pred[, y_proba], reason."),
    encoder: str | None = typer.Option(None, "--encoder", "-e", callback=check_encoders, help="The encoder (default: the one the run probed); refused unless it is the same model."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Molecules per forward pass (default: token budget)."),
    device: str | None = device_option(),
    trust_checkpoint: bool = trust_checkpoint_option(),
    no_cache: bool = no_cache_option(),
    trust_remote_code: bool = trust_remote_code_option(),
) -> None:
    """Predict new molecules with a probe run's saved predictor (same encoder, through the cache)."""
    from molstrata.core.progress import stderr_console
    from molstrata.runs.predict import predict_csv

    predictor, table = predict_csv(
        model, input_csv, out, task=task, smiles_col=smiles_col, id_col=id_col, seed=seed,
        encoder=encoder, device=device, trust_checkpoint=trust_checkpoint, use_cache=not no_cache,
        batch_size=batch_size, trust_remote_code=trust_remote_code,
    )
    console = stderr_console()
    bad = table.invalid
    seeds = ",".join(map(str, predictor.seeds))
    how = f"seed {seeds}" if len(predictor.seeds) == 1 else f"mean of seeds {seeds}"
    console.print(f"{len(table.smiles) - bad.size} of {len(table.smiles)} rows predicted for task "
                  f"{predictor.task} ({predictor.strategy}, {how}) with {predictor.encoder.name} -> {out}",
                  highlight=False)
    if bad.size:
        rows = ", ".join(f"{i + 2} ({table.reasons[i]})" for i in bad[:5])
        console.print(f"[yellow]note:[/] {bad.size} invalid row(s) kept with empty predictions, e.g. "
                      f"file rows {rows}; see the reason column", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``predict`` to the ``molstrata`` app."""
    app.command("predict")(predict_command)
