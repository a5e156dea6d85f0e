"""The insights package's shape: a curated public API, and modules in layers with data flowing down."""

from __future__ import annotations

import ast
from pathlib import Path

import brapped.insights as insights

SRC = Path(insights.__file__).resolve().parent.parent
# Bottom first: each module imports only modules before it (imports inside functions included).
LAYERS = (
    "period",
    "scope",
    "aggregates",
    "rollups",
    "earlier",
    "report_cache",
    "totals",
    "top",
    "search",
    "stories",
    "daily",
    "overview",
    "race",
    "highlights",
    "sessions",
    "wrapped",
    "compare",
    "party_sums",
    "party",
)


def _insights_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of brapped.insights or a module of it in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("brapped.insights"):
            found.append((node.lineno, node.module or "", [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.startswith("brapped.insights")]
    return found


def test_every_exported_name_exists() -> None:
    assert [name for name in insights.__all__ if not hasattr(insights, name)] == []


def test_the_cli_dashboard_and_pipeline_use_only_the_public_api() -> None:
    outside = []
    for package in ("cli", "web", "pipeline"):
        for path in sorted((SRC / package).rglob("*.py")):
            for line, module, names in _insights_imports(path):
                if module != "brapped.insights" or set(names) - set(insights.__all__):
                    outside.append(f"{path.relative_to(SRC)}:{line}: {module} {names}")
    assert outside == []


def test_modules_import_only_the_layers_below_them() -> None:
    modules = {p.stem for p in (SRC / "insights").glob("*.py")} - {"__init__"}
    assert modules == set(LAYERS)
    upward = []
    for index, name in enumerate(LAYERS):
        below = {f"brapped.insights.{m}" for m in LAYERS[:index]}
        for line, module, names in _insights_imports(SRC / "insights" / f"{name}.py"):
            targets = {f"{module}.{n}" if module == "brapped.insights" else module for n in names or [""]}
            if targets - below:
                upward.append(f"{name}.py:{line}: {module} {names}")
    assert upward == []
