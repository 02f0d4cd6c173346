"""Compare two probe-run folders cell by cell and table by table, in absolute terms.

Usage::

    python benchmarks/compare_cells.py RUN_A RUN_B [--tol 1e-4]

Cells: every ``cells/<encoder>/<task>/seed<s>/layer<k>.npz`` of RUN_A beside RUN_B's: the
chosen penalty (``param``) must be equal; the validation score and the test predictions
(probabilities or values) are compared in absolute terms. Tables: ``probe_results.csv``,
``selection.csv``, ``summary.csv`` and ``baseline.csv`` row by row: the choice columns
(``choices``, ``selected_layers``, ``final_layer``, ``oracle_layer``, ``layer``) must be
equal, the numbers are compared in absolute terms. Prints the largest deviation per encoder
(cells) and per table, and each differing choice or number beyond ``--tol``; exits 1 when
anything differs beyond it, else 0. Written for issue 22's tolerance on the logistic fits
(metrics within 1e-4, identical selections).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

#: columns whose values are choices: compared byte for byte
CHOICES = {"choices", "selected_layers", "final_layer", "oracle_layer", "layer", "param", "strategy"}
TABLES = ("probe_results.csv", "selection.csv", "summary.csv", "baseline.csv")


def compare_cells(a: Path, b: Path, tol: float) -> list[str]:
    """Per-encoder max deviations of the cells' valid scores and test predictions; problems."""
    problems: list[str] = []
    worst: dict[str, list[float]] = {}
    for fa in sorted((a / "cells").glob("*/*/seed*/layer*.npz")):
        rel = fa.relative_to(a)
        fb = b / rel
        if not fb.is_file():
            problems.append(f"{rel}: missing in {b}")
            continue
        with np.load(fa) as za, np.load(fb) as zb:
            if float(za["param"]) != float(zb["param"]):
                problems.append(f"{rel}: param {float(za['param'])} vs {float(zb['param'])}")
            dv = abs(float(za["valid_score"]) - float(zb["valid_score"]))
            dt = float(np.abs(za["test_pred"] - zb["test_pred"]).max(initial=0.0))
        w = worst.setdefault(rel.parts[1], [0.0, 0.0, 0])
        w[0], w[1], w[2] = max(w[0], dv), max(w[1], dt), w[2] + 1
        if dv > tol:
            problems.append(f"{rel}: valid score deviates by {dv:.2g}")
    for enc, (dv, dt, n) in worst.items():
        print(f"cells {enc}: {n} cells, max |valid score dev| {dv:.3g}, max |test prediction dev| {dt:.3g}")
    return problems


def compare_table(a: Path, b: Path, name: str, tol: float) -> list[str]:
    """Max absolute deviation of a table's numbers; differing choices or text; problems."""
    with (a / name).open(newline="") as fa, (b / name).open(newline="") as fb:
        ra, rb = list(csv.reader(fa)), list(csv.reader(fb))
    if ra[:1] != rb[:1] or len(ra) != len(rb):
        return [f"{name}: headers or row counts differ"]
    header, problems, worst = ra[0], [], 0.0
    for i, (x, y) in enumerate(zip(ra[1:], rb[1:], strict=True)):
        for col, u, v in zip(header, x, y, strict=True):
            if u == v:
                continue
            try:
                if col in CHOICES:
                    raise ValueError
                dev = abs(float(u) - float(v))
            except ValueError:
                problems.append(f"{name} row {i + 2} {col}: {u!r} vs {v!r} ({','.join(x[:3])})")
                continue
            worst = max(worst, dev)
            if dev > tol:
                problems.append(f"{name} row {i + 2} {col}: deviates by {dev:.2g} ({','.join(x[:5])})")
    print(f"{name}: {len(ra) - 1} rows, max |deviation| {worst:.3g}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    ap.add_argument("--tol", type=float, default=1e-4, help="absolute tolerance on numbers")
    args = ap.parse_args(argv)
    problems = compare_cells(args.run_a, args.run_b, args.tol)
    for name in TABLES:
        if (args.run_a / name).is_file():
            problems += compare_table(args.run_a, args.run_b, name, args.tol)
    for line in problems[:40]:
        print(f"  {line}")
    print(f"{len(problems)} problem(s) beyond {args.tol:g} or differing choices")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
