"""`brapped search`, `brapped artist`, `brapped track` end to end on the hand-made history (SQLite)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from brapped.cli import cli
from tests.cli.test_report import db, run  # noqa: F401  (db is a fixture)


def test_search(runner: CliRunner, db: str) -> None:  # noqa: F811
    code, out, err = run(runner, db, "search", "ÁLPHA", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert [a["id"] for a in data["artists"]] == ["a1"]
    assert data["tracks"] == [] and data["albums"] == []
    code, out, _ = run(runner, db, "search", "two", "--format", "csv")
    assert code == 0
    assert out.splitlines()[1] == "track,Two (feat. Beta),Alpha (feat. Beta),2,2024-10-27T01:30:00Z,t2"
    code, out, _ = run(runner, db, "search", "zzz")
    assert code == 0 and "Nothing you played matches" in out


def test_artist_and_track(runner: CliRunner, db: str) -> None:  # noqa: F811
    code, out, err = run(runner, db, "artist", "beta", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["main_plays"], data["featured_plays"]) == (2, 2)
    code, out, _ = run(runner, db, "artist", "Beta")
    assert code == 0 and "as featured artist" in out and "Featured with" in out
    code, out, _ = run(runner, db, "track", "t1", "--format", "csv")
    assert code == 0 and "track.name,One" in out
    code, out, _ = run(runner, db, "track", "One")
    assert code == 0 and "busiest day" in out
    # Other tracks the name matched, each with its artists (the hand-made history's t2 and t4).
    code, out, _ = run(runner, db, "track", "o")
    assert code == 0
    # After the page, a line each, with the id that picks it.
    assert out.splitlines()[-3:] == [
        "Also matched (brapped track ID for one of them):",
        "  Four by Beta  t4",
        "  Two (feat. Beta) by Alpha  t2",
    ]


def test_the_busiest_day_counts_its_plays_in_words(runner: CliRunner, db: str) -> None:  # noqa: F811
    # "2024-10-27 (1 plays)"
    code, out, err = run(runner, db, "track", "t4", "--format", "json")
    assert code == 0, err
    busiest = json.loads(out)["busiest_day"]
    assert busiest["plays"] == 1
    code, out, err = run(runner, db, "track", "t4")
    assert code == 0, err
    assert f"│ busiest day              │ {busiest['date']} (1 play)" in out


@pytest.mark.parametrize("command", [["search", "o"], ["artist", "Alpha"]])
@pytest.mark.parametrize("limit", ["0", "-1"])
def test_a_limit_below_one_is_refused(runner: CliRunner, db: str, command: list[str], limit: str) -> None:  # noqa: F811
    # `search o --limit 0` said "Nothing you played matches 'o'"; -1 listed everything on SQLite
    # and was PostgreSQL's "LIMIT must not be negative".
    code, out, err = run(runner, db, *command, "--limit", limit)
    assert code == 2
    assert f"Invalid value for '--limit': {limit} is not in the range x>=1." in err
    assert out == ""


def test_not_found_exits_4(runner: CliRunner, db: str) -> None:  # noqa: F811
    code, _, err = run(runner, db, "artist", "Nobody at all")
    assert code == 4 and "no artist you played" in err
    code, _, err = run(runner, db, "track", "Nothing")
    assert code == 4


def test_help(runner: CliRunner) -> None:
    from brapped.cli import cli

    for name in ("search", "artist", "track"):
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Usage" in result.stdout


@pytest.mark.parametrize("command", ["search", "artist", "track"])
def test_control_characters_are_refused_before_the_database(
    runner: CliRunner, db_url: str, command: str
) -> None:
    result = runner.invoke(cli, ["--db", db_url, command, "a\x00b"])
    assert result.exit_code == 2, result.output
    assert "control characters" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["artist", "track"])
def test_pages_show_first_and_last_play_to_the_minute(runner: CliRunner, db: str, command: str) -> None:  # noqa: F811
    name = "Beta" if command == "artist" else "One"
    code, out, err = run(runner, db, command, name, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    code, out, err = run(runner, db, command, name)
    assert code == 0, err
    for label, key in (("first played", "first_played_local"), ("last played", "last_played_local")):
        # "2024-10-27T02:30:00+01:00" in the data, "2024-10-27 02:30" in the terminal.
        shown = data[key][:10] + " " + data[key][11:16]
        assert any(line.strip("│ ").startswith(label) and f"│ {shown} " in line for line in out.splitlines())


def test_search_lists_each_kind_with_whole_ids_in_80_columns(runner: CliRunner, db: str) -> None:  # noqa: F811
    code, out, err = run(runner, db, "search", "two", "--format", "json")
    assert code == 0, err
    track = json.loads(out)["tracks"][0]
    argv = ["--db", db, "--timezone", "Europe/Berlin", "search", "a"]
    result = runner.invoke(cli, argv, env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in result.stdout
    kinds = ["Artists", "Tracks", "Albums"]
    assert [line for line in lines if line in kinds] == kinds
    # t2's last play, 2024-10-27 01:30 UTC, is 02:30 in Berlin: summer time ended at 01:00 UTC.
    assert track["last_played"].startswith("2024-10-27T01:30:00")
    row = next(line for line in lines if "Two (feat." in line)
    assert "│ 2024-10-27 02:30 │ t2" in row
