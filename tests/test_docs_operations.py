"""The operations docs cover every option of run/migrate/export and every column of the BI views."""

from __future__ import annotations

import click
import pytest

from brapped.cli import all_commands
from brapped.store.views import VIEWS, view_columns
from tests.conftest import REPO


@pytest.mark.parametrize("name", ["run", "migrate", "export"])
def test_every_option_is_documented_and_has_help(name: str) -> None:
    text = (REPO / "docs" / "operations.md").read_text()
    command = all_commands()[name]
    assert command.help and f"`brapped {name}" in text
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help"
            assert any(opt in text for opt in param.opts + param.secondary_opts), (
                f"{name} {param.opts} undocumented"
            )


def test_every_view_column_is_documented() -> None:
    text = (REPO / "docs" / "bi.md").read_text()
    for view in VIEWS:
        assert f"## {view}" in text
        section = text.split(f"## {view}", 1)[1].split("\n## ", 1)[0]
        for column in view_columns(view):
            assert column in section, f"{view}.{column} is not in docs/bi.md"
