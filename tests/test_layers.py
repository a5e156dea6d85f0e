"""The package's layers hold: data flows down, no import cycle, no module past ~600 lines.

Imports inside functions count. The rule in words is in README.md (Development) and docs/decisions.md.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

SRC = REPO / "src"
PACKAGE = SRC / "brapped"
MAX_LINES = 600

# The modules every layer may use: no brapped import of their own but each other.
BASE = {"errors", "clock", "serialise", "identity", "logs", "config"}

# A package (or top-level module) and the packages below it that it may import, besides BASE and itself.
# cli and web are entry points; pipeline wires the middle layer; nothing in the middle layer imports a
# sibling; store imports nothing but BASE.
MAY_IMPORT: dict[str, set[str]] = {
    "__main__": {"cli"},
    "cli": {"web", "pipeline", "spotify", "musicbrainz", "imports", "insights", "emulator", "store"},
    "web": {"pipeline", "insights", "store"},
    "pipeline": {"spotify", "musicbrainz", "imports", "insights", "emulator", "store"},
    "spotify": {"store"},
    "musicbrainz": {"store"},
    "imports": set(),
    "insights": {"store"},
    "emulator": set(),
    "store": set(),
}
BASE_MAY_IMPORT: dict[str, set[str]] = {}  # exceptions to "BASE imports only BASE": none


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if "migrations" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The brapped modules `name` imports, at any depth of its code."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            assert not isinstance(node, ast.ImportFrom), f"{name}: relative import"
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def graph() -> dict[str, set[str]]:
    found = modules()
    # A package's __init__ re-exporting its children is not a cycle of substance.
    return {
        name: {target for target in imported(name, path, set(found)) if not target.startswith(name + ".")}
        for name, path in found.items()
    }


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "brapped"


def test_every_import_points_down() -> None:
    upward = []
    for module, targets in graph().items():
        own = layer(module)
        allowed = {own, "brapped"} | BASE | MAY_IMPORT.get(own, set()) | BASE_MAY_IMPORT.get(own, set())
        if own in BASE:
            allowed = BASE | BASE_MAY_IMPORT.get(own, set())
        upward += [f"{module} -> {target}" for target in targets if layer(target) not in allowed]
    assert upward == []


def test_the_layer_table_names_every_package() -> None:
    layers = {layer(module) for module in modules()} - {"brapped"}
    assert layers <= set(MAY_IMPORT) | BASE


def test_no_import_cycle() -> None:
    edges = graph()
    seen: set[str] = set()
    cycles = []

    def walk(module: str, path: list[str]) -> None:
        for target in sorted(edges[module]):
            if target in path:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in seen:
                walk(target, [*path, target])
        seen.add(module)

    for module in sorted(edges):
        if module not in seen:
            walk(module, [module])
    assert cycles == []


def test_every_module_is_small() -> None:
    sizes = {module: len(path.read_text().splitlines()) for module, path in modules().items()}
    assert {module: lines for module, lines in sizes.items() if lines > MAX_LINES} == {}
