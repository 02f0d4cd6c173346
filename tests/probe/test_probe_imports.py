"""The modules of ``molstrata.probe`` import each other one way: no cycle, counting the
imports inside functions too (issue 18)."""

from __future__ import annotations

import ast
from pathlib import Path

import molstrata.probe

PACKAGE = "molstrata.probe"
ROOT = Path(molstrata.probe.__file__).parent


def probe_imports(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the ``molstrata.probe`` modules it imports (anywhere in the file), with the
    package's ``__init__`` left out (it only re-exports)."""
    mods = {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for mod in mods:
        deps: set[str] = set()
        for node in ast.walk(ast.parse((root / f"{mod}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == PACKAGE:
                    deps.update(a.name for a in node.names if a.name in mods)
                elif node.module.startswith(PACKAGE + "."):
                    deps.add(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                deps.update(a.name.split(".")[2] for a in node.names if a.name.startswith(PACKAGE + "."))
        graph[mod] = deps & mods - {mod}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_inside_probe():
    cycle = find_cycle(probe_imports())
    assert cycle is None, "import cycle inside molstrata.probe: " + " -> ".join(cycle)


def test_the_rule_catches_a_cycle(tmp_path):
    (tmp_path / "a.py").write_text("from molstrata.probe.b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from molstrata.probe import a\n")
    (tmp_path / "c.py").write_text("import numpy\n")
    assert find_cycle(probe_imports(tmp_path)) in (["a", "b", "a"], ["b", "a", "b"])
    (tmp_path / "b.py").write_text("import numpy\n")
    assert find_cycle(probe_imports(tmp_path)) is None
