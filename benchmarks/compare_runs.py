"""Compare the tables of two probe-run folders: numbers within a relative tolerance, choices equal.

Usage::

    python benchmarks/compare_runs.py RUN_A RUN_B [--tol 1e-9]

Every ``*.csv`` of RUN_A's top level and ``predictions/``, and ``leaderboard.json``, is read
beside RUN_B's file of the same name, row by row, on the columns both have (the others are
named). Each cell is split into its numbers and the
text around them: the text must be equal, and each number must agree within ``--tol``
relative (``|a - b| / max(|a|, |b|)``; both zero counts as equal). Choice columns
(``choice``, ``choices``, ``selected_layers``, ``layer``, ``param``, ``oracle_layer``,
``final_layer``) must be byte-equal. Prints the largest relative deviation per table and each
differing choice and each number beyond the tolerance (with the row's first cells); exits 1 when anything is outside the tolerance or differs, else 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

#: a number inside a cell (integers, decimals, exponents, nan / inf)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf)")
#: columns whose values are choices: compared byte for byte
CHOICE_COLUMNS = {"choice", "choices", "selected_layers", "layer", "param", "oracle_layer", "final_layer"}


def _split(cell: str) -> tuple[str, list[float]]:
    """The text of a cell with its numbers replaced by ``#``, and the numbers."""
    nums = [float(m) for m in _NUMBER.findall(cell)]
    return _NUMBER.sub("#", cell), nums


def _rel(a: float, b: float) -> float:
    """Relative deviation of two numbers (0 when equal, NaN == NaN; inf when one is NaN)."""
    if a == b or (a != a and b != b):
        return 0.0
    if a != a or b != b or abs(a) == float("inf") or abs(b) == float("inf"):
        return float("inf")
    return abs(a - b) / max(abs(a), abs(b))


def compare_rows(name: str, rows_a: list[list[str]], rows_b: list[list[str]], header: list[str],
                 tol: float = float("inf")) -> tuple[float, list[str]]:
    """Max relative deviation over the cells of two tables (same header, rows in order) and
    the problems found (differing text, shapes or choices, numbers beyond ``tol``), one line each."""
    problems: list[str] = []
    if len(rows_a) != len(rows_b):
        return float("inf"), [f"{name}: {len(rows_a)} rows vs {len(rows_b)}"]
    worst = 0.0
    for i, (ra, rb) in enumerate(zip(rows_a, rows_b, strict=True)):
        if len(ra) != len(rb):
            problems.append(f"{name} row {i + 2}: {len(ra)} cells vs {len(rb)}")
            continue
        for col, a, b in zip(header, ra, rb, strict=True):
            if col in CHOICE_COLUMNS and a != b:
                problems.append(f"{name} row {i + 2} {col}: {a!r} vs {b!r} (choice differs)")
                continue
            (ta, na), (tb, nb) = _split(a), _split(b)
            if ta != tb or len(na) != len(nb):
                problems.append(f"{name} row {i + 2} {col}: {a!r} vs {b!r}")
                continue
            dev = max((_rel(x, y) for x, y in zip(na, nb, strict=True)), default=0.0)
            worst = max(worst, dev)
            if dev > tol:
                where = ",".join(ra[:min(len(ra), 5)])
                problems.append(f"{name} row {i + 2} {col}: relative deviation {dev:.2g} ({where})")
    return worst, problems


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    return (rows[0], rows[1:]) if rows else ([], [])


def _json_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """A JSON file flattened to (path, value) rows, so it compares as a table."""
    flat: list[list[str]] = []

    def walk(obj: object, at: str) -> None:
        if isinstance(obj, dict):
            for k in sorted(obj):
                walk(obj[k], f"{at}/{k}")
        elif isinstance(obj, list):
            for j, v in enumerate(obj):
                walk(v, f"{at}[{j}]")
        else:
            flat.append([at, json.dumps(obj)])

    walk(json.loads(path.read_text()), "")
    return ["key", "value"], flat


def compare_runs(run_a: Path, run_b: Path, tol: float, show: int = 20) -> int:
    """Print per-table deviations and problems; return the exit status (0: all within tol)."""
    files = sorted(run_a.glob("*.csv")) + sorted((run_a / "predictions").glob("*.csv"))
    files += [p for p in [run_a / "leaderboard.json"] if p.is_file()]
    bad = 0
    for fa in files:
        rel = fa.relative_to(run_a)
        fb = run_b / rel
        if not fb.is_file():
            print(f"{rel}: missing in {run_b}")
            bad += 1
            continue
        reader = _json_rows if fa.suffix == ".json" else _read_csv
        (ha, ra), (hb, rb) = reader(fa), reader(fb)
        note = ""
        if ha != hb:  # e.g. a column added since run A: compare the columns both have
            common = [c for c in ha if c in hb]
            ra = [[r[ha.index(c)] for c in common] for r in ra if len(r) == len(ha)]
            rb = [[r[hb.index(c)] for c in common] for r in rb if len(r) == len(hb)]
            note = (f"; columns only in A {[c for c in ha if c not in hb]}, "
                    f"only in B {[c for c in hb if c not in ha]}")
            ha = common
        worst, problems = compare_rows(str(rel), ra, rb, ha, tol)
        flag = "ok" if worst <= tol and not problems else "DIFFERS"
        print(f"{rel}: max relative deviation {worst:.3g} ({len(ra)} rows) {flag}{note}")
        for line in problems[:show]:
            print(f"  {line}")
        if len(problems) > show:
            print(f"  ... {len(problems) - show} more")
        bad += flag != "ok"
    print(f"{len(files)} table(s) compared, {bad} outside tolerance {tol:g} or differing")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    ap.add_argument("--tol", type=float, default=1e-9, help="relative tolerance on numbers")
    ap.add_argument("--show", type=int, default=20, help="problems listed per table at most")
    args = ap.parse_args(argv)
    return compare_runs(args.run_a, args.run_b, args.tol, args.show)


if __name__ == "__main__":
    sys.exit(main())
