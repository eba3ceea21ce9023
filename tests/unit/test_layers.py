"""The package layers, read from the import graph: a package imports only from layers
below it, the four services never import one another, and no module is part of an import
circle (an app factory and its views, say). A new upward import or circle fails here with
the modules that make it."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "medsys"
# Lowest first. Packages on one line are siblings: none may import another.
LAYERS: list[set[str]] = [
    {"core"},
    {"pairs"},  # pair state and lease: shared by everything that controls a pair
    {"nodes"},
    {"failover", "backups"},  # each drives pairs through the engine adapters
    {"clinical", "admin", "portal", "middleware", "sla"},  # sla: measures them from outside
    {"launcher"},
    {"chaos"},
    {"cli"},  # the `medsys` command: the launcher's verbs and the chaos lab's
]
LEVEL = {package: level for level, layer in enumerate(LAYERS) for package in layer}


def _imports(path: Path) -> set[str]:
    """The medsys packages a module imports, at any depth (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {name.split(".")[1] for name in names if name.startswith("medsys.")}
    return found


def _package(path: Path) -> str:
    relative = path.relative_to(SOURCE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def test_every_package_has_a_layer() -> None:
    packages = {_package(path) for path in SOURCE.rglob("*.py")} - {"__init__"}
    assert packages <= set(LEVEL), packages - set(LEVEL)


def test_nothing_imports_upward_or_sideways() -> None:
    wrong = []
    for path in sorted(SOURCE.rglob("*.py")):
        package = _package(path)
        if package == "__init__":
            continue
        for target in _imports(path) - {package}:
            if LEVEL[target] >= LEVEL[package]:
                wrong.append(f"{path.relative_to(SOURCE)} imports medsys.{target}")
    assert wrong == []


def _module_names() -> dict[str, Path]:
    names = {}
    for path in SOURCE.rglob("*.py"):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _module_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The medsys modules a module imports, lazy imports included: ``from a import b``
    counts as importing ``a.b`` when that is a module, else ``a``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("medsys"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("medsys")}
    return found & set(modules)


def test_no_module_is_part_of_an_import_circle() -> None:
    modules = _module_names()
    graph = {name: _module_imports(path, modules) - {name} for name, path in modules.items()}
    circles = []
    for start in sorted(graph):
        # Walk from each module; a path back to it is a circle (reported once, from its
        # alphabetically first member).
        stack = [(start, (start,))]
        seen = set()
        while stack:
            name, path = stack.pop()
            for target in sorted(graph[name]):
                if target == start:
                    circles.append(" -> ".join((*path, start)))
                elif target > start and target not in seen:
                    seen.add(target)
                    stack.append((target, (*path, target)))
    assert circles == []
