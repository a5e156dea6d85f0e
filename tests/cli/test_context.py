"""What every command shares (brapped.cli.context): here, which output formats a command offers."""

from __future__ import annotations

import contextlib
import io

import pytest
from click.testing import CliRunner
from rich.console import Console

from brapped.cli import cli
from brapped.cli.context import AppContext, emit_rows


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


def _columns(rendered: str, count: int) -> list[str]:
    """Each column's text over the body of a rendered table, spaces dropped: a cell folded over
    several lines reads back whole, rows in order."""
    texts = [""] * count
    for line in rendered.splitlines():
        if line.startswith("│"):
            cells = line.strip("│").split("│")
            assert len(cells) == count, line
            for index, cell in enumerate(cells):
                texts[index] += cell.replace(" ", "")
    return texts


ROWS = [
    {
        "id": "kw8ljklo3xq2zj5v9m1b7c4d6e0f",
        "name": "Sofía Søndergaard",
        "plays": 1234567,
        "minutes": 1649.5,
        "url": "https://musicbrainz.org/artist/be54dc79-034a-4f22-a456-33ecd5202344",
    },
    {"id": "ben", "name": "Ben", "plays": 7, "minutes": None, "url": "https://example.org/"},
]


@pytest.mark.parametrize("width", [50, 80])
def test_a_table_never_cuts_or_hides_a_value(width: int) -> None:
    """At 50 columns the pinned ids left the other columns no room at all (name and plays were not
    shown), and a number or a long name was cut to "1,6…"; every value must stay readable."""
    out = io.StringIO()
    app = AppContext(out=Console(file=out, width=width, soft_wrap=True))
    emit_rows(app, "table", ROWS, whole=("id",))
    rendered = out.getvalue()
    assert "…" not in rendered
    assert max(len(line) for line in rendered.splitlines()) <= width
    expected = [
        "kw8ljklo3xq2zj5v9m1b7c4d6e0fben",
        "SofíaSøndergaardBen",
        "1,234,5677",
        "1,649.5",
        "https://musicbrainz.org/artist/be54dc79-034a-4f22-a456-33ecd5202344https://example.org/",
    ]
    assert _columns(rendered, 5) == expected
    # A number is never broken over two lines.
    assert "1,234,567" in rendered
    assert "1,649.5" in rendered


def test_an_id_stays_on_one_line_where_it_fits() -> None:
    out = io.StringIO()
    app = AppContext(out=Console(file=out, width=80, soft_wrap=True))
    emit_rows(app, "table", ROWS, whole=("id",))
    assert "kw8ljklo3xq2zj5v9m1b7c4d6e0f" in out.getvalue()


def test_a_boolean_reads_as_json_writes_it() -> None:
    # `brapped track NAME --format csv` wrote "track.explicit,True", JSON true.
    out = io.StringIO()
    app = AppContext(out=Console(file=out, width=80))
    rows = [{"key": "track.explicit", "value": True}, {"key": "track.local", "value": False}]
    emit_rows(app, "table", rows)
    assert _columns(out.getvalue(), 2) == ["track.explicittrack.local", "truefalse"]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        emit_rows(app, "csv", rows)
    assert buffer.getvalue() == "key,value\ntrack.explicit,true\ntrack.local,false\n"
