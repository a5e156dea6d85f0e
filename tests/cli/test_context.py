"""What every command shares (brapped.cli.context): here, which output formats a command offers."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from brapped.cli import cli


@pytest.mark.parametrize(
    ("command", "args"),
    [
        (["status"], []),
        (["sync"], []),
        (["import"], ["export.zip"]),
        (["enrich"], []),
        (["auth"], []),
        (["demo"], []),
        (["playlist", "wrapped"], []),
        (["accounts", "remove"], ["ana"]),
    ],
)
def test_a_summary_command_refuses_csv(runner: CliRunner, command: list[str], args: list[str]) -> None:
    # Their output is a summary, not rows: `--format csv` used to print the same text as the table.
    # Given before the arguments, the option is checked first and nothing runs.
    result = runner.invoke(cli, [*command, "--format", "csv", *args])
    assert result.exit_code == 2
    assert "'csv' is not one of 'table', 'json'" in result.stderr
    assert result.stdout == ""
