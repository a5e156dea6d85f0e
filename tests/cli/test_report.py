"""`brapped report today|day|wrapped|top` end to end on the hand-made history (SQLite)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from brapped.cli import cli
from brapped.cli.context import AppContext
from brapped.store import open_store, tables
from tests.insights.conftest import FALL_BACK_DAY, SPRING_FORWARD_DAY, TZ, add_catalogue, add_plays


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        raise AssertionError("reports never wait")


@pytest.fixture
def db(tmp_home: Path) -> str:
    url = f"sqlite:///{tmp_home / 'history.db'}"
    store = open_store(url)
    with store.begin() as conn:
        add_catalogue(conn)
        add_plays(conn, FALL_BACK_DAY + SPRING_FORWARD_DAY)
    store.close()
    return url


def run(runner: CliRunner, db: str, *args: str, now: datetime | None = None) -> tuple[int, str, str]:
    obj = AppContext(clock=FixedClock(now)) if now else None
    result = runner.invoke(cli, ["--db", db, "--timezone", TZ, *args], obj=obj)
    return result.exit_code, result.stdout, result.stderr


def test_day_json_has_the_documented_keys(runner: CliRunner, db: str) -> None:
    code, out, err = run(runner, db, "report", "day", "2024-10-27", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert {"date", "timezone", "minutes_listened", "plays", "top_tracks", "top_artists", "hours"} <= set(
        data
    )
    assert data["date"] == "2024-10-27" and data["timezone"] == TZ
    assert len(data["hours"]) == 24 and data["hours_in_day"] == 25
    assert data["plays"] == 5
    assert data["utc_start"] == "2024-10-26T22:00:00Z"


def test_day_in_a_half_hour_zone(runner: CliRunner, db: str) -> None:
    # Lord Howe goes back from 02:00 (+11:00) to 01:30 (+10:30) on 2025-04-06: 24.5 hours.
    args = ["report", "day", "2025-04-06", "--format", "json"]
    result = runner.invoke(cli, ["--db", db, "--timezone", "Australia/Lord_Howe", *args])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["hours_in_day"] == 24.5 and len(data["hours"]) == 24
    assert data["utc_start"] == "2025-04-05T13:00:00Z" and data["utc_end"] == "2025-04-06T13:30:00Z"
    table = runner.invoke(
        cli, ["--db", db, "--timezone", "Australia/Lord_Howe", "report", "day", "2025-04-06"]
    )
    assert table.exit_code == 0 and "24.5 h" in table.stdout


def test_today_uses_the_local_date_of_the_clock(runner: CliRunner, db: str) -> None:
    # 23:30 UTC on 26 October is already 27 October in Berlin.
    now = datetime(2024, 10, 26, 23, 30, tzinfo=UTC)
    code, out, err = run(runner, db, "report", "today", "--format", "json", now=now)
    assert code == 0, err
    assert json.loads(out)["date"] == "2024-10-27"


def test_day_table_and_csv(runner: CliRunner, db: str) -> None:
    code, out, _ = run(runner, db, "report", "day", "2024-10-27")
    assert code == 0
    assert "Two (feat. Beta)" in out and "Alpha (feat. Beta)" in out
    assert "25 h" in out and "Minutes per local hour" in out
    code, out, _ = run(runner, db, "report", "day", "2024-10-27", "--format", "csv")
    rows = {r["key"]: r["value"] for r in csv.DictReader(io.StringIO(out))}
    assert rows["plays"] == "5"
    assert rows["top_tracks.1.name"] == "Two (feat. Beta)"
    assert rows["top_tracks.1.artists.2.role"] == "featured"


def test_wrapped_year_window_and_range(runner: CliRunner, db: str) -> None:
    code, out, err = run(runner, db, "report", "wrapped", "--year", "2024", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["period"] == {"start": "2024-01-01", "end": "2024-12-31", "timezone": TZ}
    assert data["plays"] == 10
    first = data["top_artists"][0]
    assert {k: first[k] for k in ("id", "name", "plays", "main_plays", "featured_plays")} == {
        "id": "a1",
        "name": "Alpha",
        "plays": 6,
        "main_plays": 6,
        "featured_plays": 0,
    }
    code, out, _ = run(
        runner, db, "report", "wrapped", "--from", "2024-10", "--to", "2024-10-27", "--format", "json"
    )
    assert json.loads(out)["plays"] == 6  # 26 and 27 October
    code, out, _ = run(runner, db, "report", "wrapped", "--year", "2024", "--window", "spotify")
    assert code == 0 and "Wrapped 2024-01-01 to 2024-11-15" in out


def test_top_lists(runner: CliRunner, db: str) -> None:
    code, out, _ = run(runner, db, "report", "top", "artists", "--format", "json")
    data = json.loads(out)
    assert data["period"] is None and data["by"] == "plays"
    assert [a["name"] for a in data["items"]] == ["Alpha", "Beta", "Gamma"]
    code, out, _ = run(
        runner, db, "report", "top", "tracks", "--period", "2024-03", "--by", "minutes", "--format", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["name"], r["plays"]) for r in rows] == [("One", "2"), ("Four", "1")]
    code, out, _ = run(runner, db, "report", "top", "genres", "--limit", "1")
    assert code == 0 and "pop" in out and "rock" not in out


def test_wrapped_table_shows_the_2025_cards(runner: CliRunner, db: str) -> None:
    store = open_store(db)
    with store.begin() as conn:  # Gamma, heard in March 2023, is back on 27 October 2024
        add_plays(
            conn, [{"played_at": datetime(2023, 3, 1, 12, tzinfo=UTC), "track_id": "t3", "ms_played": 90_000}]
        )
    store.close()
    code, out, err = run(runner, db, "report", "wrapped", "--year", "2024")
    assert code == 0, err
    assert "Top artists (by credit)" in out and "Top tracks (by streams)" in out
    # t1: 2 plays on 27 and 28 October (250,000 ms) beat t2's 2 plays (80,000 ms) and t1's March pair.
    assert "One by Alpha, x2 from 2024-10-27 to 2024-11-02" in out
    assert "Gamma: back on 2024-10-27 after" in out
    assert "music of 1999-2003" in out
    assert "Artist race" in out and "2024-10" in out
    code, out, err = run(runner, db, "report", "wrapped", "--year", "2025")
    assert code == 0, err
    assert "Alpha: once your #1, last played 2024-10-28" in out


def test_top_artists_by_credit(runner: CliRunner, db: str) -> None:
    code, out, err = run(runner, db, "report", "top", "artists", "--by", "credit", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    # Streams: Alpha main 3 (t1) + 1 (t2); Beta main 1 (t4) + featured 1 (t2); Gamma 1 (t3).
    assert [(a["name"], a["credit"]) for a in data["items"]] == [
        ("Alpha", 4.0),
        ("Beta", 1.5),
        ("Gamma", 1.0),
    ]
    code, _, err = run(runner, db, "report", "top", "tracks", "--by", "credit")
    assert code != 0 and "credit ranks artists only" in err


def table_rows(out: str, title: str) -> list[dict[str, str]]:
    """The rows of the Rich table titled `title` in `out`, as dicts keyed by the column headings
    (one-line headings; a cell wrapped onto the next lines is joined back)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    header = [c.strip() for c in lines[start + 2].strip("┃").split("┃")]
    rows: list[dict[str, str]] = []
    for line in lines[start + 4 :]:
        if not line.startswith("│"):
            break
        cells = dict(zip(header, (c.strip() for c in line.strip("│").split("│")), strict=True))
        if rows and not cells[header[0]]:
            rows[-1] = {k: " ".join(filter(None, (v, cells[k]))) for k, v in rows[-1].items()}
        else:
            rows.append(cells)
    return rows


# (plays, streams) of the fixture's 2024, streams being plays of 30 s or more: t1 "One" 4 plays, one
# of them 29,999 ms; t2 2, one of 20 s; t4 "Four" 2, one of unknown length; t3 and t5 one each.
TRACK_COUNTS = {"One": ("4", "3"), "Two (feat. Beta)": ("2", "1"), "Three": ("1", "1")}
TRACK_COUNTS |= {"Four": ("2", "1"), "Five": ("1", "1")}


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        ("tracks", "track", TRACK_COUNTS),
        # Alpha: t1 and t2; Beta: t4 and featured on t2; Gamma: t3.
        ("artists", "artist", {"Alpha": ("6", "4"), "Beta": ("4", "2"), "Gamma": ("1", "1")}),
        # First: t1 and t2; Comp: t3 and t5; Undated: t4.
        ("albums", "album", {"First": ("6", "4"), "Comp": ("2", "2"), "Undated": ("2", "1")}),
    ],
)
def test_a_list_ranked_by_streams_shows_them(
    runner: CliRunner, db: str, kind: str, name: str, expected: dict[str, tuple[str, str]]
) -> None:
    code, out, err = run(runner, db, "report", "top", kind, "--by", "streams")
    assert code == 0, err
    rows = table_rows(out, f"Top {kind} by streams")
    assert {r[name]: (r["plays"], r["streams"]) for r in rows} == expected
    code, out, err = run(runner, db, "report", "top", kind)
    assert code == 0, err
    assert "streams" not in table_rows(out, f"Top {kind} by plays")[0]


def test_wrapped_top_tracks_show_their_streams(runner: CliRunner, db: str) -> None:
    code, out, err = run(runner, db, "report", "wrapped", "--year", "2024")
    assert code == 0, err
    rows = table_rows(out, "Top tracks (by streams)")
    assert rows[0]["track"] == "One"
    assert {r["track"]: (r["plays"], r["streams"]) for r in rows} == TRACK_COUNTS


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "day", "27/10/2024"], "not a date"),
        (["report", "wrapped", "--year", "2024", "--from", "2024-01"], "not both"),
        (["report", "wrapped", "--to", "2024-01"], "--to needs --from"),
        (["report", "wrapped", "--from", "2024-05", "--to", "2024-01"], "before it starts"),
        (["report", "top", "artists", "--period", "last week"], "not a date or period"),
        (["report", "top", "moods"], "Invalid value"),
        (["report", "top", "tracks", "--limit", "0"], "limit must be at least 1"),
        # Dates no report can be about: one line, not date arithmetic's traceback (nor, for 0,
        # this year's report).
        (["report", "wrapped", "--year", "9999"], "year must be between 1971 and 2998, not 9999"),
        (["report", "wrapped", "--year", "0"], "year must be between 1971 and 2998, not 0"),
        (["report", "wrapped", "--year", "1"], "year must be between 1971 and 2998, not 1"),
        (["report", "party", "--year", "9999"], "year must be between 1971 and 2998"),
        (["report", "day", "0001-01-01"], "day must be between 1970-01-02 and 2999-12-30"),
        (["report", "day", "9999-12-31"], "day must be between 1970-01-02 and 2999-12-30"),
        (["report", "top", "artists", "--period", "9999"], "'9999': reports cover 1970-01-02 to 2999-12-30"),
        (["report", "wrapped", "--from", "9999-12"], "'9999-12': reports cover 1970-01-02 to 2999-12-30"),
        (["report", "top", "artists", "--period", "3d"], "A..B (or today, 7d, 30d, year, all)"),
        (["compare", "u1", "u2", "--period", "3d"], "A..B (or today, 7d, 30d, year, all)"),
        # --window was ignored with --from: a Wrapped of other dates than asked for.
        (["report", "wrapped", "--from", "2024-05", "--window", "spotify"], "--window goes with --year"),
        (["report", "party", "--from", "2024-05", "--window", "spotify"], "--window goes with --year"),
        # Was "period ends (today) before it starts (2998-01-01)": no end had been given.
        (["report", "wrapped", "--from", "2998-01"], "--from 2998-01-01 is after today"),
        (["report", "top", "artists", "--from", "2998-01"], "--from 2998-01-01 is after today"),
        (["playlist", "wrapped", "--year", "0", "--csv", "-"], "year must be between 1971 and 2998, not 0"),
        # A mistyped listener: an error, as compare and party give, not a report of silence.
        (["report", "wrapped", "--year", "2024", "--user", "typo"], "no listener 'typo' in the database"),
        (["report", "today", "--user", "typo"], "no listener 'typo'"),
        (["report", "day", "2024-10-27", "--user", "typo"], "no listener 'typo'"),
        (["report", "top", "artists", "--user", "typo"], "no listener 'typo'"),
        (["search", "a", "--user", "typo"], "no listener 'typo'"),
        (["artist", "Alpha", "--user", "typo"], "no listener 'typo'"),
        (["track", "t1", "--user", "typo"], "no listener 'typo'"),
        (["playlist", "wrapped", "--year", "2024", "--user", "typo", "--csv", "-"], "no listener 'typo'"),
    ],
)
def test_bad_input_is_one_clear_line(runner: CliRunner, db: str, args: list[str], message: str) -> None:
    code, _, err = run(runner, db, *args)
    assert code != 0
    assert message in err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("Error")]) == 1, err


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("2024-05..2024-01", "Error: period ends (2024-01-31) before it starts (2024-05-01)\n"),
        ("2024-13", "Error: not a date or period: '2024-13' (month must be in 1..12)\n"),
        ("1960", "Error: '1960': reports cover 1970-01-02 to 2999-12-30\n"),
    ],
)
def test_a_period_error_names_the_presets_only_when_the_form_is_unknown(
    runner: CliRunner, db: str, period: str, message: str
) -> None:
    # "(or today, 7d, 30d, year, all)" was added to every period error, where it made no sense.
    code, _, err = run(runner, db, "report", "top", "artists", "--period", period)
    assert code == 1
    assert err == message


def test_bad_timezone(runner: CliRunner, db: str) -> None:
    result = runner.invoke(cli, ["--db", db, "--timezone", "Mars/Base", "report", "day", "2024-01-01"])
    assert result.exit_code != 0 and "unknown timezone" in result.stderr


def test_every_command_has_help(runner: CliRunner) -> None:
    for args in (
        ["report"],
        ["report", "today"],
        ["report", "day"],
        ["report", "wrapped"],
        ["report", "top"],
    ):
        result = runner.invoke(cli, [*args, "--help"])
        assert result.exit_code == 0 and "Usage" in result.stdout


def test_a_known_listener_is_reported_as_every_listener_is(runner: CliRunner, db: str) -> None:
    # The history's only listener: --user gives the same Wrapped as none.
    mine = run(runner, db, "report", "wrapped", "--year", "2024", "--user", "u1", "--format", "json")
    everyone = run(runner, db, "report", "wrapped", "--year", "2024", "--format", "json")
    assert mine[0] == everyone[0] == 0, mine[2]
    assert json.loads(mine[1]) == json.loads(everyone[1])
    assert json.loads(mine[1])["plays"] == 10  # the hand-made history's 2024


@pytest.mark.parametrize(
    ("preset", "first"),
    [("today", "2024-10-27"), ("7d", "2024-10-21"), ("30d", "2024-09-28"), ("year", "2024-01-01")],
)
def test_top_takes_the_dashboards_period_presets(runner: CliRunner, db: str, preset: str, first: str) -> None:
    """`--period 30d` is the 30 local days ending today, as on the dashboard: the same list as the
    dates written out."""
    now = datetime(2024, 10, 27, 22, 0, tzinfo=UTC)  # 27 October in Europe/Berlin too
    code, out, err = run(
        runner, db, "report", "top", "tracks", "--period", preset, "--format", "json", now=now
    )
    assert code == 0, err
    spelled = run(
        runner,
        db,
        "report",
        "top",
        "tracks",
        "--from",
        first,
        "--to",
        "2024-10-27",
        "--format",
        "json",
        now=now,
    )
    assert json.loads(out) == json.loads(spelled[1])
    assert json.loads(out)["period"] == {"start": first, "end": "2024-10-27", "timezone": TZ}
    everything = run(runner, db, "report", "top", "tracks", "--period", "all", "--format", "json", now=now)
    assert json.loads(everything[1]) == json.loads(
        run(runner, db, "report", "top", "tracks", "--format", "json")[1]
    )


def test_a_listener_of_podcasts_alone_is_a_listener(runner: CliRunner, db: str) -> None:
    """Only episode plays: --user takes them, and their Wrapped has its spoken-word part."""
    store = open_store(db)
    with store.begin() as conn:
        conn.execute(
            insert(tables.episodes), [{"id": "e1", "kind": "podcast", "name": "Ep", "show_name": "Show"}]
        )
        conn.execute(
            insert(tables.episode_plays),
            [
                {
                    "user_id": "pod",
                    "played_at": datetime(2024, 5, 1, 9, tzinfo=UTC),
                    "episode_id": "e1",
                    "ms_played": 600_000,
                    "source": "export",
                }
            ],
        )
    store.close()
    code, out, err = run(
        runner, db, "report", "wrapped", "--year", "2024", "--user", "pod", "--format", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["plays"] == 0 and data["spoken_word"]["podcasts"]["plays"] == 1
    code, out, err = run(runner, db, "accounts", "--format", "json")
    assert code == 0, err
    listed = {row["id"]: (row["plays"], row["episode_plays"]) for row in json.loads(out)}
    assert listed["pod"] == (0, 1) and listed["u1"][1] == 0


def test_credits_show_as_every_figure_does(runner: CliRunner, db: str) -> None:
    code, out, err = run(runner, db, "report", "top", "artists", "--by", "credit")
    assert code == 0, err
    rows = table_rows(out, "Top artists")
    assert [(r["artist"], r["credit"]) for r in rows] == [("Alpha", "4.0"), ("Beta", "1.5"), ("Gamma", "1.0")]
    code, out, err = run(runner, db, "report", "top", "artists", "--by", "credit", "--format", "csv")
    assert code == 0, err
    assert [row["credit"] for row in csv.DictReader(io.StringIO(out))] == ["4.0", "1.5", "1.0"]


def test_wrapped_table_writes_figures_as_people_read_them(runner: CliRunner, db: str) -> None:
    code, out, err = run(runner, db, "report", "wrapped", "--year", "2024", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    session, busiest = data["longest_session"], data["busiest_day"]
    window = data["listening_age"]["window"]
    code, out, err = run(runner, db, "report", "wrapped", "--year", "2024")
    assert code == 0, err
    rows = {r[""]: r["value"] for r in table_rows(out, "Wrapped")}
    start = datetime.fromisoformat(session["start"])
    # One decimal, the local minute without its offset (the title names the zone), no "T".
    assert rows["longest session"] == (
        f"{round(session['minutes'], 1):.1f} min from {start.date()} {start.hour:02d}:{start.minute:02d}"
    )
    assert rows["busiest day"] == f"{busiest['date']} ({round(busiest['minutes'], 1):.1f} min)"
    highlights = {r[""]: r["value"] for r in table_rows(out, "Highlights")}
    assert highlights["listening age"].endswith(
        f"({round(window['index'], 1):.1f}x its share of the tracks you played before)"
    )


def test_an_empty_top_list_says_so(runner: CliRunner, db: str) -> None:
    code, out, err = run(runner, db, "report", "top", "albums", "--period", "2019")
    assert code == 0, err
    assert out == "No albums to rank, 2019-01-01 to 2019-12-31.\n"
    code, out, err = run(runner, db, "report", "top", "tracks", "--period", "2019", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["items"] == []  # the machine forms stay as they were
