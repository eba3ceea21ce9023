"""The package layers, read from the import graph: a package imports only from layers
below it, and the four services never import one another. A new upward import fails here
with the file that makes it."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "medsys"
# Lowest first. Packages on one line are siblings: none may import another.
LAYERS: list[set[str]] = [
    {"core"},
    {"pairs"},  # pair state and lease: shared by everything that controls a pair
    {"nodes"},
    {"failover"},
    {"clinical", "admin", "portal", "middleware"},
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
