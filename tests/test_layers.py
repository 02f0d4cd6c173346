"""The import arrows of ``src/molstrata`` go one way (issue 18).

Layers, left to right; a module may import its own layer and anything to its left::

    core <- scale <- data <- encoders <- embeddings <- {analysis, probe, finetune, pretrain}
         <- report <- runs <- cli

The four in braces are siblings: none imports another. ``molstrata/__init__.py`` is the
top-level API and may import anything; any module may import it (for ``__version__``: it is
lazy and imports nothing when loaded). Every import is read from the source with ``ast``,
module-level and function-local alike (``TYPE_CHECKING`` blocks too: an arrow is an arrow),
and there is no import cycle between modules, inside a package included (there
``TYPE_CHECKING`` imports do not count: they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: rank of each layer; siblings share a rank
RANK = {
    "core": 0, "scale": 1, "data": 2, "encoders": 3, "embeddings": 4,
    "analysis": 5, "probe": 5, "finetune": 5, "pretrain": 5,
    "report": 6, "runs": 7, "cli": 8,
}

#: Arrows tolerated while a move is in progress, as (importing module, imported module) ->
#: the branch that removes it. Empty on main: a new arrow against the layers is a bug.
PENDING: dict[tuple[str, str], str] = {}

#: Cycles tolerated while a move is in progress: the sorted members of each strongly
#: connected component -> the branch that removes it. Empty on main.
PENDING_CYCLES: dict[tuple[str, ...], str] = {}


@dataclass(frozen=True)
class Arrow:
    """One import of a molstrata module by another, where it is written."""

    source: str  # importing module, e.g. "molstrata.probe.cv"
    target: str  # imported module, e.g. "molstrata.probe._probe"
    file: str
    line: int
    text: str
    typing_only: bool = False  # under ``if TYPE_CHECKING:``

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"


def module_name(path: Path, root: Path) -> str:
    """``root/molstrata/probe/cv.py`` -> ``molstrata.probe.cv`` (packages: their name)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(source: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = source.split(".") if is_package else source.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(path: Path, root: Path, modules: set[str]) -> Iterator[Arrow]:
    """Every import of a ``molstrata`` module in ``path``; ``from a import b`` is an arrow to
    ``a.b`` when that is a module, else to ``a``."""
    source = module_name(path, root)
    is_package = path.name == "__init__.py"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text, filename=str(path))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(source, is_package, node)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in dict.fromkeys(targets):
            if target == "molstrata" or target.startswith("molstrata."):
                yield Arrow(source, target, str(path.relative_to(root)), node.lineno,
                            lines[node.lineno - 1].strip(), id(node) in typing_only)


def layer_of(module: str) -> str | None:
    """The layer of ``molstrata.<layer>...``; None for the top-level ``molstrata``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def violates(source: str, target: str) -> str | None:
    """Why ``source`` may not import ``target`` (None when it may)."""
    src, dst = layer_of(source), layer_of(target)
    if src is None:  # molstrata/__init__.py: the public API
        return None
    if src not in RANK:
        return f"{source} is in no layer (add {src!r} to RANK)"
    if dst is None:  # the lazy package root (``__version__``)
        return None
    if dst not in RANK:
        return f"{target} is in no layer (add {dst!r} to RANK)"
    if src == dst or RANK[dst] < RANK[src]:
        return None
    if RANK[dst] == RANK[src]:
        return f"{src} imports its sibling {dst}"
    return f"{src} imports {dst}, a layer above it"


def collect(root: Path) -> list[Arrow]:
    files = sorted((root / "molstrata").rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    return [a for f in files for a in imports_of(f, root, modules)]


def layer_violations(arrows: list[Arrow]) -> list[str]:
    return [f"{a}  ({why})" for a in arrows
            if (why := violates(a.source, a.target)) and (a.source, a.target) not in PENDING]


def cycles(arrows: list[Arrow]) -> list[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan), sorted.

    An arrow to a package (``from molstrata.probe import x``) points at its ``__init__``,
    which imports its submodules: so a submodule importing its own package is a cycle."""
    graph: dict[str, set[str]] = {}
    for a in arrows:
        if a.source != a.target and not a.typing_only:
            graph.setdefault(a.source, set()).add(a.target)
            graph.setdefault(a.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(tuple(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def describe_cycle(comp: tuple[str, ...], arrows: list[Arrow]) -> str:
    members = set(comp)
    where = [str(a) for a in arrows if a.source in members and a.target in members
             and a.source != a.target and not a.typing_only]
    return " <-> ".join(comp) + ":\n    " + "\n    ".join(where)


# ------------------------------------------------------------------------------- tests
def test_every_import_follows_the_layers():
    bad = layer_violations(collect(SRC))
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_no_import_cycles():
    arrows = collect(SRC)
    bad = [describe_cycle(c, arrows) for c in cycles(arrows) if c not in PENDING_CYCLES]
    assert not bad, "import cycles:\n" + "\n".join(bad)


def test_pending_lists_hold_only_what_still_exists():
    """An entry whose arrow or cycle is gone must be deleted, so the lists only shrink."""
    arrows = collect(SRC)
    present = {(a.source, a.target) for a in arrows}
    assert [k for k in PENDING if k not in present] == []
    assert [c for c in PENDING_CYCLES if c not in cycles(arrows)] == []


@pytest.mark.parametrize(("source", "target", "ok"), [
    ("molstrata.probe.cv", "molstrata.core.files", True),
    ("molstrata.probe.cv", "molstrata.probe._probe", True),
    ("molstrata.runs.probe", "molstrata.report", True),
    ("molstrata.cli.probe", "molstrata.runs.probe", True),
    ("molstrata", "molstrata.cli", True),
    ("molstrata.core.config", "molstrata", True),
    ("molstrata.probe.runner", "molstrata.report", False),  # a stage importing report
    ("molstrata.finetune.run", "molstrata.probe.linear", False),  # siblings
    ("molstrata.encoders.base", "molstrata.embeddings.cache", False),  # a layer above
    ("molstrata.core.files", "molstrata.data", False),
    ("molstrata.report.selection", "molstrata.runs", False),
    ("molstrata.runs.x", "molstrata.cli", False),
    ("molstrata.newstage.x", "molstrata.core", False),  # unknown layers are named
])
def test_the_rule(source, target, ok):
    assert (violates(source, target) is None) == ok


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "molstrata" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_planted_violation_is_named_with_file_line_and_import(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/files.py": "import os\n",
        "probe/__init__.py": "",
        "probe/runner.py": "from molstrata.core import files\n\n\ndef f():\n    from molstrata.report import build\n",
        "report/__init__.py": "",
        "report/build.py": "from ..probe import runner\n",
        "finetune/__init__.py": "",
        "finetune/run.py": "import molstrata.probe.runner as r\n",
    })
    bad = layer_violations(collect(root))
    assert bad == [
        "molstrata/finetune/run.py:1: import molstrata.probe.runner as r  (finetune imports its sibling probe)",
        "molstrata/probe/runner.py:5: from molstrata.report import build  (probe imports report, a layer above it)",
    ]


def test_a_planted_cycle_is_found(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "probe/__init__.py": "",
        "probe/_probe.py": "from molstrata.probe import strategies\n",
        "probe/strategies.py": "def f():\n    from molstrata.probe.cv import g\n",
        "probe/cv.py": "from ._probe import x\n",
        "probe/combine.py": "from molstrata.probe.cv import g\n",
    })
    arrows = collect(root)
    assert cycles(arrows) == [("molstrata.probe._probe", "molstrata.probe.cv", "molstrata.probe.strategies")]
    assert "molstrata/probe/strategies.py:2: from molstrata.probe.cv import g" in describe_cycle(
        cycles(arrows)[0], arrows)
