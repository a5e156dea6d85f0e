"""Docs are part of the product: a command without a README section, or a dead doc link, fails."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click

from brapped.cli import all_commands
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_every_command_has_a_readme_section() -> None:
    headings = set(re.findall(r"^### brapped ([a-z-]+)", README, flags=re.MULTILINE))
    missing = sorted(set(all_commands()) - headings)
    assert not missing, f"README has no '### brapped <command>' section for: {missing}"


def test_quick_start_has_exactly_two_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_linked_docs_exist() -> None:
    for target in re.findall(r"\]\(((?:docs|examples|bench)/[^)#]*)\)", README):
        assert (REPO / target).exists(), f"README links to missing {target}"
    for doc in ("schema", "decisions", "benchmarks", "accuracy", "merge", "reports", "emulator", "bi"):
        assert (REPO / "docs" / f"{doc}.md").exists()


def _format_choices(command: click.Command, path: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(command path, its --format choices) for `command` and every subcommand."""
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _format_choices(sub, f"{path} {name}")
    for param in command.params:
        if param.name == "fmt" and isinstance(param.type, click.Choice):
            yield path, tuple(str(c) for c in param.type.choices)


def test_readme_says_which_commands_take_csv() -> None:
    """The README's `--format` statement puts every command in the group its option offers."""
    paragraph = README.split("Commands that output rows", 1)[1].split("Errors are", 1)[0]
    rows, summaries = paragraph.split("Those that print a", 1)
    found = [pair for name, cmd in all_commands().items() for pair in _format_choices(cmd, name)]
    assert len(found) > 10
    for path, choices in found:
        named = f"`{path.split()[0] if path.startswith('report ') else path}`"
        if choices == ("table", "json", "csv"):
            assert named in rows and named not in summaries, path
        elif choices == ("table", "json"):
            assert named in summaries and named not in rows, path
        else:
            assert path == "export", path  # its --format is the file format
