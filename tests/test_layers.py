"""The code's shape: no import cycle in bench/ or servers/, the harness's core imports nothing
from the presentation or the scenarios on top of it, and bench/'s top level stays small."""

from __future__ import annotations

import ast
from pathlib import Path

from bench.launch import REPO_ROOT

PACKAGES = ("bench", "servers")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            found[module_name(path)] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """The project's modules that `path` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports(path, known) - {name} for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_a_cycle_is_found_where_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_bench_or_servers() -> None:
    assert cycles(graph()) == []


ABOVE_CORE = ("bench.report", "bench.scenarios", "bench.lessons")  # what the core never imports


def test_the_core_imports_nothing_from_presentation_or_scenarios() -> None:
    edges, files = graph(), modules()
    core = [  # bench/ but the command line (on top of everything), the presentation, the
        # scenarios, the lessons and the micro-benchmarks: the pipeline and its packages
        name
        for name in files
        if name.startswith("bench.")
        and not name.startswith((*ABOVE_CORE, "bench.micro"))
        and name != "bench.__main__"
    ]
    assert {"bench.plan", "bench.run.runner", "bench.run.session", "bench.telemetry"} <= set(core)
    for name in core:
        above = {t for t in edges[name] if t.startswith(ABOVE_CORE)}
        assert not above, f"{name} imports {sorted(above)}"
    for name in edges:  # presentation draws stored results; it runs no scenario
        if name.startswith("bench.report"):
            assert not {t for t in edges[name] if t.startswith("bench.scenarios")}, name


def test_bench_top_level_stays_small() -> None:
    top = sorted(path.name for path in (REPO_ROOT / "bench").glob("*.py"))
    assert len(top) <= 20, top


def test_no_function_in_bench_is_longer_than_80_lines() -> None:
    """A longer one holds more than one idea: split it (a table may be longer: none is now)."""
    long = []
    for path in (REPO_ROOT / "bench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > 80:
                long.append(f"{path.relative_to(REPO_ROOT)}:{node.name} ({length} lines)")
    assert long == []
