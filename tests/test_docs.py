"""Docs are part of the product: a command without a README section, or a dead doc link, fails."""

from __future__ import annotations

import re

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
