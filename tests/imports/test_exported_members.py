"""`brapped.imports` is the readers' public API: code outside the package imports their names from it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import brapped.imports

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "brapped" / "imports"
# The modules behind `brapped.imports`; `merge` and `worker` are imported as modules of their own.
READERS = {"account", "decoding", "detect", "extended", "extended_fast", "fields", "rows", "sources"}


def _outside() -> Iterator[Path]:
    for top in ("src", "tests", "bench"):
        for path in sorted((REPO / top).rglob("*.py")):
            if not path.is_relative_to(PACKAGE) and not path.is_relative_to(REPO / "tests" / "imports"):
                yield path


def _imports(path: Path) -> Iterator[ast.ImportFrom | ast.Import]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom | ast.Import):
            yield node


def test_every_exported_name_exists_once() -> None:
    exported = brapped.imports.__all__
    assert len(set(exported)) == len(exported)
    assert [name for name in exported if not hasattr(brapped.imports, name)] == []


def test_code_outside_the_package_imports_the_readers_names_from_the_package() -> None:
    wrong = []
    for path in _outside():
        for node in _imports(path):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
                if node.module == "brapped.imports":
                    wrong += [
                        f"{path.relative_to(REPO)}: {alias.name}"
                        for alias in node.names
                        if alias.name not in brapped.imports.__all__
                        and not (PACKAGE / f"{alias.name}.py").exists()
                    ]
            else:
                modules = [alias.name for alias in node.names]
            wrong += [
                f"{path.relative_to(REPO)}: {module}"
                for module in modules
                if module.removeprefix("brapped.imports.") in READERS
            ]
    assert wrong == []
