"""The package's shape: no module imports, directly or through others, a module that imports it.

A cycle makes the code read in circles (run -> ppo -> run) and pushes imports into functions to
dodge it; lower layers (runs, models, data) importing upper ones (trainers, cli) is how cycles
start. Imports inside functions count: they run too, only later.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rmbench"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the rmbench modules it imports anywhere in its body (`from a import b` counts a,
    and a.b when that is a module; relative imports are resolved)."""
    files = {module_name(p, package): p for p in package.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = here.split(".")[:len(here.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                deps.add(base)
                deps |= {f"{base}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                deps |= {alias.name for alias in node.names}
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_sees_a_cycle_through_a_function_local_import(tmp_path):
    package = tmp_path / "rmbench"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "low.py").write_text("def f():\n    from rmbench.sub import high\n")
    (package / "sub" / "high.py").write_text("from rmbench import low\n")
    (package / "alone.py").write_text("from . import low\n")
    assert cycles(import_graph(package)) == [["rmbench.low", "rmbench.sub.high"]]


def test_rmbench_has_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_bottom_layers_import_no_upper_layer():
    """runs, models, errors and results are read by trainers and the leaderboard alike: they
    must not pull in either (ranking records must not load the training stack)."""
    graph = import_graph()
    upper = ("rmbench.trainers", "rmbench.leaderboard", "rmbench.evals", "rmbench.cli", "rmbench.scoring")
    for bottom in ("rmbench.runs", "rmbench.models", "rmbench.errors", "rmbench.results"):
        assert not [d for d in graph[bottom] if d.startswith(upper)], (bottom, graph[bottom])
    assert not [d for d in graph["rmbench.leaderboard.records"] if d.startswith("rmbench.trainers")]
