"""The package's import graph has no cycles, counting imports inside functions too.

Every `import` / `from ... import` statement of `src/mapfree` is an edge to the module it names;
`from package import name` goes to the submodule that defines `name` when the package's
`__init__` re-exports it. String tables (`_LAZY` lazy exports, CLI discovery) are not edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mapfree

ROOT = Path(mapfree.__file__).parent


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, packages named by their `__init__.py`."""
    files = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


FILES = module_files()


def is_package(module: str) -> bool:
    return FILES[module].name == "__init__.py"


def imported_names(module: str) -> list[tuple[str, str | None]]:
    """(absolute module, name or None) of every import statement in a module's file."""
    out: list[tuple[str, str | None]] = []
    package = module if is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(FILES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out += [(base, alias.name) for alias in node.names]
    return out


def resolve(module: str, name: str | None, seen: frozenset[str] = frozenset()) -> str | None:
    """The project module an import lands in (following `__init__` re-exports), or None."""
    if name is not None and f"{module}.{name}" in FILES:
        return f"{module}.{name}"
    if module not in FILES:
        return None
    if name is not None and is_package(module) and module not in seen:
        for source, exported in imported_names(module):
            if exported == name:
                return resolve(source, name, seen | {module}) or module
    return module


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in FILES:
        targets = {resolve(source, name) for source, name in imported_names(module)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

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
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert "mapfree.cli.submit" in graph and "mapfree.cli._model_args" in graph["mapfree.cli.submit"]
    assert sum(map(len, graph.values())) > 100


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(import_graph()) == []
