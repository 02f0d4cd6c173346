"""``molstrata encoders``: the registered encoders, read from their model cards.

A card whose module cannot be imported yet (a missing extra, a stage not installed) is
listed as unavailable with the reason, never hidden.
"""

from __future__ import annotations

from typing import Any

import typer


def encoder_rows() -> list[dict[str, Any]]:
    """One dict per registered encoder: name, kind, layers, dims, weights, extra, status."""
    from molstrata.encoders.registry import _ALIASES, get_card, registered_names

    aliases: dict[str, list[str]] = {}
    for alias, target in _ALIASES.items():
        aliases.setdefault(target, []).append(alias)
    rows = []
    for name in registered_names():
        row: dict[str, Any] = {"name": name, "aliases": sorted(aliases.get(name, []))}
        try:
            card = get_card(name)
        except Exception as exc:  # noqa: BLE001 - any failure is shown, not raised
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
            row |= {"kind": None, "num_layers": None, "dims": None, "weights_present": None,
                    "extra": None, "status": f"unavailable ({reason})"}
        else:
            row |= {"kind": card.kind, "num_layers": card.num_layers, "dims": card.dims,
                    "weights_present": card.weights_present, "extra": card.extra,
                    "status": "ok", "how_to_get_weights": card.how_to_get_weights}
        rows.append(row)
    return rows


def _dims_text(dims: list[int] | None) -> str:
    if not dims:
        return "?"
    unique = sorted(set(dims))
    if len(unique) == 1:
        return str(unique[0])
    return "/".join(map(str, dims)) if len(dims) <= 4 else f"{unique[0]}-{unique[-1]}"


def encoders_command(
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
    wide: bool = typer.Option(False, "--wide", help="One line per encoder, however wide the terminal."),
) -> None:
    """List registered encoders: name, kind, layers, dims, weights present, extra needed.

    Any local Hugging Face model folder or hub id also works as --encoder.
    """
    rows = encoder_rows()
    if as_json:
        import json

        typer.echo(json.dumps(rows, indent=2))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title="registered encoders (also: any HF model folder or hub id)",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("name", "kind", "layers", "dims", "weights", "extra"):  # names are never cut
        table.add_column(col, no_wrap=col in ("name", "kind"), overflow="fold")
    broken = [r for r in rows if r["status"] != "ok"]
    if broken:
        table.add_column("status", overflow="fold")
    for r in rows:
        weights = {True: "yes", False: "no", None: "?"}[r["weights_present"]]
        layers = "?" if r["num_layers"] is None else f"{r['num_layers']}+1"
        cells = [r["name"], r["kind"] or "?", layers, _dims_text(r["dims"]), weights, r["extra"] or "-"]
        table.add_row(*cells, *([r["status"]] if broken else []))
    console = Console(width=10_000) if wide else Console()
    console.print(table, crop=not wide)
    for r in rows:
        for alias in r["aliases"]:
            console.print(f"{alias} = {r['name']}" + (" (the encoder used when --encoder is not given)"
                                                     if alias == "default" else ""), highlight=False)
    console.print("layers: blocks + 1 (layer 0, the input embedding); dims: width of each "
                  "layer (a range when it varies)", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``encoders`` to the ``molstrata`` app."""
    app.command("encoders")(encoders_command)
