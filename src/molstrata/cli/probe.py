"""``molstrata probe``: frozen probes on every layer, the layer chosen on validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from molstrata.cli import _csvopts as _csv
from molstrata.cli import _rerun
from molstrata.cli._options import (
    check_encoders,
    no_cache_option,
    pooling_help,
    probe_help,
    ray_address_option,
    trust_checkpoint_option,
    trust_remote_code_option,
)
from molstrata.probe.selection import DEFAULT_SELECTION, parse_selection, selection_help


def probe_command(
    ctx: typer.Context,
    encoder: list[str] = typer.Option(["default"], "--encoder", "-e", callback=check_encoders, help="Registered encoder, HF model folder or hub id; repeat to compare encoders."),
    tasks: str | None = typer.Option(None, "--tasks", "-t", help="'admet' (the 22 TDC ADMET tasks, the default without --input) or comma-separated task names (molstrata tasks)."),
    seeds: str = typer.Option("1,2,3,4,5", "--seeds", "-s", help="Split seeds, e.g. 1,2,3,4,5 or 1-5 (TDC's protocol: 1-5)."),
    probe: str = typer.Option("linear", "--probe", "-p", help=probe_help()),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder; rerunning the same run into it resumes it (cells whose data changed are recomputed)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Folder with admet_group/<task>/ holding train_val.csv and test.csv (default MOLSTRATA_DATA_DIR)."),
    pooling: str | None = typer.Option(None, "--pooling", help=pooling_help()),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Molecules per forward pass (default: token budget)."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda...: the encoder's device (default: CUDA when available); when given, also the linear probes' (default: the CPU)."),
    strategy: str = typer.Option(DEFAULT_SELECTION, "--selection", "--strategy", help=selection_help()),
    cv_folds: int = typer.Option(5, "--cv-folds", min=3, help="k of the scaffold-grouped CV of the cv, cv-1se, concat and ensemble selections."),
    no_report: bool = typer.Option(False, "--no-report", help="Write the tables only (molstrata report DIR draws the report later)."),
    executor_name: str = typer.Option("local", "--executor", help="local (this process) | ray (Ray tasks; pip install 'molstrata[ray]')."),
    trust_checkpoint: bool = trust_checkpoint_option(),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace another run in --out (only molstrata's files of it are removed)."),
    ray_address: str = ray_address_option(),
    no_cache: bool = no_cache_option(),
    input_csv: Path | None = _csv.INPUT, smiles_col: str | None = _csv.SMILES_COL,
    target_col: list[str] | None = _csv.TARGET_COL, task_type: str | None = _csv.TASK_TYPE,
    id_col: str | None = _csv.ID_COL, split: str = _csv.SPLIT, metric: str | None = _csv.METRIC,
    task_name: str | None = _csv.TASK_NAME,
    rerun_config: Path | None = _rerun.CONFIG,
    baseline: str = typer.Option("ecfp", "--baseline", help="ecfp: also probe Morgan/ECFP4 count fingerprints, same probe and splits, for the report (baseline.csv) | none."),
    trust_remote_code: bool = trust_remote_code_option(),
    n_jobs: str | None = typer.Option(None, "--n-jobs", show_default="auto", help="With --executor local: fit the probes and selections in N local worker processes; auto (default; MOLSTRATA_N_JOBS overrides it) = the CPUs this process may use, at most 8 and the number of (task, seed) jobs; 1 = this process only. Each probe fit is pinned to one thread so that its bytes never depend on the machine, so processes are how molstrata uses the cores; the tables are the same for every N. The embedding stays in this process."),
    control: str = typer.Option("none", "--control", help="random-twin: also run the same strategy on each encoder's random-init twin (same architecture, fresh weights seeded by --control-seed) into the folder control_random-twin inside OUT; the report shows its Δ beside the pretrained one | none."),
    control_seed: int = typer.Option(0, "--control-seed", min=0, help="Seed of the random-init twin's weights (--control random-twin); recorded in config.toml."),
) -> None:
    """Probe every layer on each task and seed; select layers on validation; report."""
    _rerun.remember_invocation(ctx)
    from rich.console import Console

    from molstrata.scale import from_cli, sleeping_openmp

    sleeping_openmp(executor_name, n_jobs)  # before torch loads (importing molstrata.runs loads it)
    from molstrata.runs.probe import sweep
    console = Console(stderr=True)
    user = _csv.csv_task_from_flags(input_csv, smiles_col=smiles_col, target_cols=target_col,
                                    task_type=task_type, id_col=id_col, split=split,
                                    metric=metric, task_name=task_name)
    task_list = [*([t for t in tasks.split(",") if t.strip()] if tasks else ([] if user else ["admet"])),
                 *([user] if user else [])]
    executor, executor_entry = from_cli(executor_name, ray_address, n_jobs=n_jobs,
                                        n_items=_n_items(task_list, seeds))
    try:
        run = sweep(
            encoder, task_list, seeds, model=probe, out=out, data_dir=data_dir, pooling=pooling,
            batch_size=batch_size, device=device, strategy=parse_selection(strategy), cv_folds=cv_folds,
            report=not no_report, progress=True,
            config={"command_line": "molstrata probe", "executor": executor_entry},
            executor=executor, trust_checkpoint=trust_checkpoint, overwrite=overwrite,
            use_cache=not no_cache, baseline=baseline, trust_remote_code=trust_remote_code,
            control=control, control_seed=control_seed,
        )
    finally:
        if executor is not None and executor.name == "local":
            executor.close()  # the run's worker pool
    out = run.out or out  # out/probe/ when --out held another command's run
    if run.resumed_cells:
        console.print(f"resumed: {run.resumed_cells} (task, seed, layer) cells read back from {out}/cells")
    from molstrata.report.build import dedupe

    for note in dedupe(run.notes):  # one line for a note every seed repeats
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    from molstrata.probe.outputs import summary_frame
    from molstrata.report.tables import format_pct

    summary = summary_frame(run.scores)
    chosen_by = run.scores[0].strategy if run.scores else "valid"  # the strategy that filled summary.csv
    for enc, g in summary.groupby("encoder", sort=False):
        console.print(
            f"{enc}: mean Δ% of the {chosen_by} choice (no test labels) over the final layer "
            f"{format_pct(g['delta_pct'].mean(), 2)} over {len(g)} task(s) "
            f"(oracle, picked on test: {format_pct(g['oracle_delta_pct'].mean(), 2)})"
        )
    from molstrata.cli._headline import print_headline

    print_headline(console, summary, chosen_by, run.control)
    if run.selections:
        from molstrata.probe.outputs import selection_frame, selection_summary_frame

        table = selection_summary_frame(selection_frame(run.selections, run.scores))
        for r in table.itertuples(index=False):
            console.print(f"{r.encoder} · {r.strategy}: mean Δ% over the final layer {format_pct(r.mean_delta_pct, 2)} "
                          f"(better on {r.tasks_better}, worse on {r.tasks_worse} of {r.tasks} task(s); "
                          f"worst {r.worst_task} {format_pct(r.worst_delta_pct)})", highlight=False)
    console.print(f"wrote {out}/ (probe_results.csv, summary.csv, leaderboard, predictions/, "
                  f"{'selection.csv, ' if run.selections else ''}"
                  f"config.toml{'' if no_report else ', figures/, report.md'})")


def _n_items(task_list: list[Any], seeds: str) -> int | None:
    """(task, seed) jobs of the run (what ``--n-jobs auto`` caps at); None when the flags
    are wrong (the sweep refuses them in one line)."""
    from molstrata.core.errors import MolstrataError
    from molstrata.core.seed import parse_seeds
    from molstrata.runs._tasks import resolve_tasks

    try:
        return len(resolve_tasks(task_list)) * len(parse_seeds(seeds))
    except MolstrataError:
        return None


def register(app: typer.Typer) -> None:
    """Add ``probe`` to the ``molstrata`` app."""
    app.command("probe")(probe_command)
