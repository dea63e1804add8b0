"""The package's import graph has no cycles and points only down the layers, counting imports inside
functions and under `if TYPE_CHECKING:` too.

Every `import` / `from ... import` statement of `src/mapfree` is an edge to the module it names;
`from package import name` goes to the submodule that defines `name` when the package's
`__init__` re-exports it, by an import or in its `lazy_exports` table (a name imported on first use).
Other string tables (CLI discovery) are not edges.
Type-only imports count: a lower layer that names a higher one's types still depends on its API.
The layers are `package_layers.LAYERS`.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

import mapfree
from package_layers import LAYERS, layer_table

ROOT = Path(mapfree.__file__).parent
ARCHITECTURE = ROOT.parents[1] / "docs" / "ARCHITECTURE.md"


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, packages named by their `__init__.py`."""
    files = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


FILES = module_files()


def is_package(module: str, files: Mapping[str, Path] = FILES) -> bool:
    return files[module].name == "__init__.py"


def imported_names(module: str, files: Mapping[str, Path] = FILES) -> list[tuple[str, str | None, int]]:
    """(absolute module, name or None, line) of every import statement in a module's file."""
    out: list[tuple[str, str | None, int]] = []
    package = module if is_package(module, files) else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(files[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out += [(base, alias.name, node.lineno) for alias in node.names]
    return out


def lazy_table(module: str, files: Mapping[str, Path] = FILES) -> dict[str, str]:
    """{name: defining module} of a package's `lazy_exports(__name__, {...})` call (see `mapfree.lazy`)."""
    for node in ast.walk(ast.parse(files[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports" and \
                len(node.args) == 2 and isinstance(node.args[1], ast.Dict):
            return {key.value: value.value for key, value in zip(node.args[1].keys, node.args[1].values)}
    return {}


def resolve(module: str, name: str | None, files: Mapping[str, Path] = FILES,
            seen: frozenset[str] = frozenset()) -> str | None:
    """The project module an import lands in (following `__init__` re-exports), or None."""
    if name is not None and f"{module}.{name}" in files:
        return f"{module}.{name}"
    if module not in files:
        return None
    if name is not None and is_package(module, files) and module not in seen:
        for source, exported, _ in imported_names(module, files):
            if exported == name:
                return resolve(source, name, files, seen | {module}) or module
        lazy = lazy_table(module, files)
        if name in lazy:
            return resolve(lazy[name], name, files, seen | {module}) or module
    return module


def imports(module: str, files: Mapping[str, Path] = FILES) -> list[tuple[int, str]]:
    """(line, project module) of each import statement of `module` that lands in another project module."""
    found = ((line, resolve(source, name, files)) for source, name, line in imported_names(module, files))
    return [(line, target) for line, target in found if target is not None and target != module]


def import_graph(files: Mapping[str, Path] = FILES) -> dict[str, set[str]]:
    return {module: {target for _, target in imports(module, files)} for module in files}


def package_of(module: str) -> str:
    """The layer table's key of a module: the first name below `mapfree` (`mapfree` for the root)."""
    return module.split(".")[1] if "." in module else module


def layer_violations(files: Mapping[str, Path] = FILES, layers: Mapping[str, int] = LAYERS) -> list[str]:
    """'file:line: a -> b (why)' for every import into another package that is not of a lower layer, and for
    every module whose package the table lacks."""
    found = []
    for module, path in sorted(files.items()):
        source = package_of(module)
        if source not in layers:
            found.append(f"{path}: package {source!r} of {module} has no layer in package_layers.LAYERS")
            continue
        for line, target in imports(module, files):
            dest = package_of(target)
            if dest != source and layers.get(dest, len(layers)) >= layers[source]:
                found.append(f"{path}:{line}: {module} -> {target} ({source}, layer {layers[source]}, may not import "
                             f"{dest}, layer {layers.get(dest, 'none')})")
    return found


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


def test_every_package_has_a_layer_and_is_used():
    assert {package_of(module) for module in FILES} == set(LAYERS)


def test_imports_point_down_the_layers():
    assert layer_violations() == [], "\n".join(layer_violations())


UPWARD = """\
from mapfree.geometry.rotations import matrix_to_quaternion
import mapfree.cli


def late():
    from mapfree.study.config import StudyConfig
"""


@pytest.mark.parametrize(("line", "edge"), [(2, "mapfree.data.upward -> mapfree.cli (data, layer 2, may not import "
                                                  "cli, layer 8)"),
                                           (6, "mapfree.data.upward -> mapfree.study.config (data, layer 2, may not "
                                               "import study, layer 7)")])
def test_layer_check_names_an_upward_import(tmp_path: Path, line: int, edge: str):
    """A module of `data` importing upward, at module level and inside a function; its downward import passes."""
    path = tmp_path / "upward.py"
    path.write_text(UPWARD)
    found = layer_violations({**FILES, "mapfree.data.upward": path})
    assert f"{path}:{line}: {edge}" in found
    assert len(found) == 2


def test_layer_check_names_a_package_without_a_layer(tmp_path: Path):
    path = tmp_path / "new.py"
    path.write_text("import mapfree.errors\n")
    assert layer_violations({"mapfree.newpkg.new": path}) == [
        f"{path}: package 'newpkg' of mapfree.newpkg.new has no layer in package_layers.LAYERS"]


def test_architecture_shows_the_layers():
    assert layer_table() in ARCHITECTURE.read_text(encoding="utf-8")


def test_lazy_exports_are_edges_to_the_defining_module():
    assert resolve("mapfree.models", "MicKey") == resolve("mapfree", "MicKey") == "mapfree.models.mickey"
    assert resolve("mapfree.study", "run_study") == "mapfree.study.run"
