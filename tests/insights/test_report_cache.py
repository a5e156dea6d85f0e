"""Reports kept for closed periods (brapped.insights.report_cache): read back only while they cannot be wrong.

On both databases: a closed period's Wrapped is kept and read back equal to a fresh computation;
every change to what it shows (old plays, episode plays, names, albums, release dates, credits,
genres) makes the kept result unreadable, and the next answer equals a fresh computation again;
changes it cannot see (new plays after the cutoff, popularity, images) leave it in use.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, insert, select, text, update

from brapped.cli import cli
from brapped.insights import Period, kept_wrapped, wrapped
from brapped.insights import report_cache as kept_module
from brapped.insights.report_cache import describe, find, key, through
from brapped.insights.rollups import refresh_store, state
from brapped.store import Store, open_store, tables
from tests.insights.conftest import FALL_BACK_DAY, SPRING_FORWARD_DAY, TZ, VA, add_catalogue, add_plays, at

NOW = datetime(2025, 1, 20, tzinfo=UTC)
YEAR = Period.year(2024, TZ)  # closed: the summaries' cutoff falls on 2025-01-13
SETTINGS: dict[str, Any] = {
    "user_id": None,
    "stream_threshold_ms": 30_000,
    "session_gap_minutes": 30,
    "limit": 100,
}
KEY = key("wrapped", YEAR, **SETTINGS)


def _history(store: Store) -> None:
    with store.begin() as conn:
        add_catalogue(conn)
        add_plays(
            conn,
            [
                *FALL_BACK_DAY,
                *SPRING_FORWARD_DAY,
                {"played_at": at("2023-06-01T10:00:00"), "track_id": "t3", "ms_played": 200_000},
                {"played_at": at("2025-01-20T09:00:00"), "track_id": "t2", "ms_played": 150_000},
            ],
        )
        conn.execute(
            insert(tables.episodes).values(id="e1", kind="podcast", name="Episode 1", show_name="The Show")
        )
        conn.execute(
            insert(tables.episode_plays).values(
                user_id="u1", played_at=at("2024-05-05T08:00:00"), episode_id="e1", ms_played=600_000,
                source="export", ms_played_source="export",
            )
        )  # fmt: skip
    done = refresh_store(store, TZ, 30_000, NOW)
    assert done.action == "built" and done.cutoff == datetime(2025, 1, 13, tzinfo=UTC)


def _kept(store: Store) -> dict[str, Any]:
    with store.connect() as conn:
        return kept_wrapped(conn, YEAR, **SETTINGS)


def _fresh(store: Store) -> dict[str, Any]:
    with store.connect() as conn:
        return wrapped(conn, YEAR, **SETTINGS)


def _found(store: Store) -> dict[str, Any] | None:
    with store.connect() as conn:
        return find(conn, KEY, YEAR)


def _no_computing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("computed again instead of reading the kept result")

    # The module, not the function `brapped.insights.wrapped` that the package exports.
    monkeypatch.setattr(importlib.import_module("brapped.insights.wrapped"), "wrapped", refuse)


def test_a_closed_period_is_kept_and_read_back_equal(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _history(store)
    fresh = _fresh(store)
    assert fresh["plays"] == 10 and fresh["spoken_word"]["podcasts"]["plays"] == 1
    assert _found(store) is None
    first = _kept(store)
    assert first == fresh
    with store.connect() as conn:
        rows = conn.execute(select(tables.kept_reports.c.key, tables.kept_reports.c.generation)).all()
        generation = conn.execute(select(tables.report_state.c.generation)).scalar_one()
    # The Wrapped, and the totals of its previous period (2023, closed too).
    totals_key = key("compared_totals", YEAR.previous(), user_id=None, stream_threshold_ms=30_000)
    assert sorted(rows) == sorted([(KEY, generation), (totals_key, generation)])
    with store.connect() as conn:
        assert describe(conn)["kept_reports"] == 2  # as `brapped status` and the health page say
    _no_computing(monkeypatch)
    assert _kept(store) == fresh  # read back, not computed: `wrapped` now refuses


def test_an_open_period_is_not_kept(store: Store) -> None:
    _history(store)
    this_year = Period.year(2025, TZ)  # ends after the cutoff: plays may still come
    with store.connect() as conn:
        assert kept_wrapped(conn, this_year, **SETTINGS) == wrapped(conn, this_year, **SETTINGS)
    with store.connect() as conn:
        kinds = [json.loads(k)["kind"] for k in conn.execute(select(tables.kept_reports.c.key)).scalars()]
    assert kinds == ["compared_totals"]  # only its previous period's totals (2024, closed)


def test_nothing_is_kept_while_the_summaries_are_missing_or_stale(store: Store) -> None:
    with store.begin() as conn:
        add_catalogue(conn)
        add_plays(conn, FALL_BACK_DAY)
    with store.connect() as conn:
        kept_wrapped(conn, YEAR, **SETTINGS)  # never built
        assert conn.execute(select(func.count()).select_from(tables.kept_reports)).scalar_one() == 0


def _run(store: Store, statements: Any) -> None:
    """Run a change: one statement, or a list of them in one transaction."""
    with store.begin() as conn:
        for statement in statements if isinstance(statements, list) else [statements]:
            conn.execute(statement)


# (what changes, the change) for changes a 2024 Wrapped shows: each must make the kept result
# unreadable, and the fresh result must differ (so the test checks a change that matters).
def _set(table: Any, column: str, value: Any, **values: Any) -> Any:
    return update(table).where(table.c[column] == value).values(**values)


def _new_album_credits() -> list[Any]:
    return [
        insert(AL).values(id="al9", name="Later"),
        insert(AA).values(album_id="al9", position=0, artist_id="a1"),
    ]


def _new_artist_genres() -> list[Any]:
    return [
        insert(AR).values(id="a9", name="Newcomer"),
        insert(tables.artist_genres).values(artist_id="a9", genre="pop"),
    ]


def _episode_play(when: str) -> Any:
    return insert(tables.episode_plays).values(
        user_id="u1", played_at=at(when), episode_id="e1", ms_played=60_000, source="export"
    )


T, AR, AL = tables.tracks, tables.artists, tables.albums
AA, TA = tables.album_artists, tables.track_artists
SHOWN: list[tuple[str, Callable[[], Any]]] = [
    ("a summed track's name", lambda: _set(T, "id", "t1", name="Uno")),
    ("a summed track's album", lambda: _set(T, "id", "t4", album_id="al1")),
    ("an artist's name", lambda: _set(AR, "id", "a1", name="Alfa")),
    ("an album's name", lambda: _set(AL, "id", "al1", name="Erste")),
    ("a release date", lambda: _set(AL, "id", "al1", release_date="1971-02-03")),
    ("an album credit", lambda: insert(AA).values(album_id="al1", position=1, artist_id="a3")),
    ("a removed album credit", lambda: delete(AA).where(AA.c.album_id == "al3")),
    ("a new genre", lambda: insert(tables.artist_genres).values(artist_id="a2", genre="jazz")),
    ("a renamed genre", lambda: _set(tables.artist_genres, "genre", "pop", genre="synthpop")),
    ("a removed genre", lambda: delete(tables.artist_genres).where(tables.artist_genres.c.genre == "rock")),
    ("a track credit", lambda: insert(TA).values(track_id="t1", position=1, artist_id="a3")),
    ("a show's name", lambda: update(tables.episodes).values(show_name="Another Show")),
    ("an episode play before the cutoff", lambda: _episode_play("2024-06-06T08:00:00")),
    ("a removed episode play", lambda: delete(tables.episode_plays)),
    ("an episode play's length", lambda: update(tables.episode_plays).values(ms_played=1_000)),
    ("an old play", lambda: insert(tables.plays).values(
        user_id="u1", played_at=at("2024-07-07T12:00:00"), track_id="t3", ms_played=99_000, source="export")),
    ("an old play's length", lambda: _set(tables.plays, "track_id", "t1", ms_played=5)),
]  # fmt: skip


@pytest.mark.parametrize("change", [c for _, c in SHOWN], ids=[name for name, _ in SHOWN])
def test_a_change_to_what_the_report_shows_makes_the_kept_result_unreadable(
    store: Store, change: Callable[[], Any]
) -> None:
    _history(store)
    before = _kept(store)
    assert _found(store) == before
    _run(store, change())
    assert _found(store) is None
    with store.connect() as conn:
        assert describe(conn)["kept_reports"] == 0
    after = _fresh(store)
    assert after != before
    assert _kept(store) == after
    # Once the summaries are rebuilt (what `brapped run` and the dashboard do), it is kept again.
    refresh_store(store, TZ, 30_000, NOW)
    assert _kept(store) == after
    assert _found(store) == after


def test_an_albums_track_count_makes_the_kept_result_unreadable(store: Store) -> None:
    """Wrapped's new albums need the album's track count (more than half of it streamed), which
    enrich fills in after the album was stored: the kept result must not hide the album then."""
    _history(store)
    _run(store, _set(AL, "id", "al1", release_date="2024-01-01"))  # released in the period
    before = _kept(store)
    assert before["top_new_albums"] == []  # its track count is unknown yet
    _run(store, _set(AL, "id", "al1", total_tracks=2))
    assert _found(store) is None
    after = _kept(store)
    assert [a["id"] for a in after["top_new_albums"]] == ["al1"]
    assert after == _fresh(store)


# Changes a 2024 Wrapped cannot see: the kept result stays in use, and still equals a fresh one.
UNSEEN: list[tuple[str, Callable[[], Any]]] = [
    ("a play after the cutoff", lambda: insert(tables.plays).values(
        user_id="u1", played_at=at("2025-01-19T12:00:00"), track_id="t1", ms_played=99_000, source="api")),
    ("a track's popularity", lambda: update(tables.tracks).values(popularity=50)),
    ("a track's name written unchanged", lambda: update(tables.tracks).values(name=tables.tracks.c.name)),
    ("an artist's image", lambda: update(AR).values(image_url="https://i.scdn.co/image/x", popularity=3)),
    ("an album's image", lambda: update(tables.albums).values(image_url="https://i.scdn.co/image/y")),
    ("a new track never played", lambda: insert(tables.tracks).values(id="t9", name="Nine")),
    ("a new album's credits (what sync adds)", lambda: _new_album_credits()),
    ("genres of an artist never played", lambda: _new_artist_genres()),
    ("a play's flags", lambda: update(tables.plays).values(shuffle=True)),
    ("an episode play after the cutoff", lambda: _episode_play("2025-01-19T08:00:00")),
]  # fmt: skip


@pytest.mark.parametrize("change", [c for _, c in UNSEEN], ids=[name for name, _ in UNSEEN])
def test_a_change_the_report_cannot_see_keeps_it_in_use(
    store: Store, change: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _history(store)
    before = _kept(store)
    _run(store, change())
    assert _fresh(store) == before
    _no_computing(monkeypatch)
    assert _kept(store) == before


def test_renaming_various_artists_marks_the_summaries_stale(store: Store) -> None:
    # Left out of the per-artist sums under that name: under another it belongs in them.
    _history(store)
    _run(store, update(tables.artists).where(tables.artists.c.id == VA).values(name="VA Records"))
    with store.connect() as conn:
        found = state(conn)
    assert found is not None and found.stale


def test_a_change_during_the_computation_is_not_kept_as_current(store: Store) -> None:
    _history(store)
    with store.connect() as conn:

        def compute() -> dict[str, Any]:
            _run(store, update(tables.artists).where(tables.artists.c.id == "a1").values(name="Alfa"))
            return wrapped(conn, YEAR, **SETTINGS)

        through(conn, KEY, YEAR, compute)
    assert _found(store) is None
    assert _kept(store) == _fresh(store)
    assert _kept(store)["top_artists"][0]["name"] == "Alfa"


def test_results_of_older_code_are_not_read(store: Store) -> None:
    _history(store)
    _kept(store)
    _run(store, update(tables.kept_reports).values(code="an older brapped"))
    assert _found(store) is None


NEW_IN_2025 = ("artist_race", "obsession", "rediscovery", "forgotten_favourite", "top_new_albums")


def test_a_result_kept_before_the_2025_figures_is_not_served(store: Store) -> None:
    """A Wrapped kept by the code before the 2025 figures (no such keys, another code
    fingerprint) is never read back: the answer is computed again, with every key."""
    _history(store)
    current = _kept(store)
    assert set(NEW_IN_2025) <= set(current)
    old = {k: v for k, v in current.items() if k not in NEW_IN_2025}
    _run(store, update(tables.kept_reports).values(code="brapped before 2025", payload=json.dumps(old)))
    assert _found(store) is None
    again = _kept(store)
    assert again == _fresh(store) and set(NEW_IN_2025) <= set(again)


def test_the_oldest_results_are_forgotten_beyond_the_limit(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _history(store)
    monkeypatch.setattr(kept_module, "MAX_KEPT", 2)
    months = [Period.parse(f"2024-{m:02d}", TZ) for m in (3, 10, 11)]
    with store.connect() as conn:
        for month in months:
            kept_wrapped(conn, month, **SETTINGS)
    with store.connect() as conn:
        keys = set(conn.execute(select(tables.kept_reports.c.key)).scalars())
    # Each Wrapped also keeps its previous period's totals: of the six rows, the newest two stay.
    assert len(keys) == 2 and key("wrapped", months[-1], **SETTINGS) in keys


def test_a_busy_sqlite_database_gives_the_result_without_keeping_it(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'busy.db'}")
    _history(store)
    with store.begin(immediate=True) as holder:  # another writer holds the lock
        holder.execute(update(tables.accounts).values(country="SE"))
        assert _kept(store) == _fresh(store)
    assert _found(store) is None
    with store.connect() as conn:
        # The connection that tried to write waits as long as any other again.
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30_000
    store.close()


def test_the_cli_reads_a_kept_wrapped(tmp_home: Path, runner: CliRunner) -> None:
    url = f"sqlite:///{tmp_home / 'history.db'}"
    store = open_store(url)
    _history(store)
    store.close()
    outputs = []
    for _ in range(2):
        result = runner.invoke(
            cli, ["--db", url, "--timezone", TZ, "report", "wrapped", "--year", "2024", "--format", "json"]
        )
        assert result.exit_code == 0, result.stderr
        outputs.append(json.loads(result.stdout))
    assert outputs[0] == outputs[1] and outputs[0]["plays"] == 10
    store = open_store(url)
    with store.connect() as conn:
        keys = set(conn.execute(select(tables.kept_reports.c.key)).scalars())
    assert keys == {KEY, key("compared_totals", YEAR.previous(), user_id=None, stream_threshold_ms=30_000)}
    store.close()


def test_reading_a_kept_result_does_not_write(store: Store) -> None:
    # The dashboard is read-only towards the listening data; a kept result is derived data only.
    _history(store)
    _kept(store)
    with store.connect() as conn:
        before = conn.execute(text("SELECT key, generation, built_at FROM kept_reports")).all()
    _kept(store)
    with store.connect() as conn:
        assert conn.execute(text("SELECT key, generation, built_at FROM kept_reports")).all() == before
