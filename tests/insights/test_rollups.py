"""The stored sums of older plays (brapped.insights.rollups): same numbers, honest staleness.

Reports read `track_totals` and `hour_totals` only while they match `plays`; these tests check on
both databases that a report gives the same answer with and without them, that the triggers mark
them stale for every kind of change to a summed play (and not for changes they cannot see), and
that readers then ignore them.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, delete, func, insert, select, update

from brapped.insights import Period, Scope
from brapped.insights import rollups as summaries_module
from brapped.insights.aggregates import (
    LONG_RANGE,
    OPEN_END,
    day_hour_grid,
    listening_clock,
    per_album,
    per_artist,
    per_track,
)
from brapped.insights.overview import overview
from brapped.insights.rollups import (
    days_and_clock,
    grid_of,
    per_track_of,
    per_track_table,
    refresh,
    refresh_store,
    state,
)
from brapped.insights.stories import artist_story, track_story
from brapped.insights.top import per_album_of, per_artist_of, top
from brapped.store import Store, open_store, tables
from tests.insights.conftest import TZ, add_catalogue, add_plays

START = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 4, 1, tzinfo=UTC)
TRACKS = ["t1", "t2", "t3", "t4", "t5"]

play = st.tuples(
    st.integers(0, 80),  # day of 2024 (the cutoff falls a week before the newest play's day)
    st.integers(0, 24 * 60 - 1),  # minute of the day (UTC)
    st.sampled_from(TRACKS),
    st.one_of(st.none(), st.integers(0, 400_000)),
    st.sampled_from(["export", "estimate"]),
    st.sampled_from(["u1", "u2"]),
)
histories = st.lists(play, min_size=1, max_size=50, unique_by=lambda p: (p[0], p[1], p[2], p[5]))


def _store(store: Store, history: list[tuple[int, int, str, int | None, str, str]]) -> None:
    with store.begin() as conn:
        if conn.execute(select(tables.artists).limit(1)).first() is None:
            add_catalogue(conn)
        for table in (tables.summary_state, tables.track_totals, tables.hour_totals, tables.plays):
            conn.execute(delete(table))
        add_plays(
            conn,
            [
                {
                    "played_at": START + timedelta(days=day, minutes=minute),
                    "track_id": track,
                    "ms_played": ms,
                    "ms_played_source": source if ms is not None else None,
                    "user_id": user,
                }
                for day, minute, track, ms, source, user in history
            ],
        )


def _rows(conn: Connection, query: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(int(v) if not isinstance(v, str) else v for v in row) for row in conn.execute(query))


def _all_time(conn: Connection) -> Period:
    first = conn.execute(select(func.min(tables.plays.c.played_at))).scalar_one()
    return Period(first.astimezone(Period.day(date(2024, 1, 1), TZ).tz).date(), NOW.date(), TZ)


def _stale(store: Store) -> bool:
    with store.connect() as conn:
        found = state(conn)
    assert found is not None
    return found.stale


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=histories,
    threshold=st.sampled_from([30_000, 120_000]),
    zone=st.sampled_from([TZ, "Asia/Kathmandu"]),
)
def test_reports_read_from_the_sums_equal_reports_read_from_plays(
    store: Store, history: list[Any], threshold: int, zone: str
) -> None:
    _store(store, history)
    done = refresh_store(store, zone, threshold, NOW)
    assert done.action == "built"
    with store.connect() as conn:
        first = _all_time(conn).start
        periods = [Period(first, NOW.date(), zone), Period(date(2024, 2, 10), date(2024, 3, 31), zone)]
        for user in (None, "u1"):
            for scope in (Scope(user, None, None, threshold), Scope.of(periods[0], user, threshold)):
                assert _rows(conn, per_track_of(conn, scope)) == _rows(conn, per_track(scope))
                with per_track_table(conn, scope) as table:
                    assert _rows(conn, select(table)) == _rows(conn, per_track(scope))
                plain = per_track(scope).subquery()
                assert _rows(conn, per_artist_of(conn, scope)) == _rows(conn, per_artist(plain))
                albums = per_album(plain).subquery()
                assert _rows(conn, per_album_of(conn, scope)) == _rows(
                    conn, select(albums).where(albums.c.album_id.is_not(None))
                )
                chosen = ["t1", "t2"]
                assert _rows(conn, per_track_of(conn, scope, chosen)) == _rows(
                    conn, per_track(scope).where(tables.plays.c.track_id.in_(chosen))
                )
            for period in periods:
                scope = Scope.of(period, user, threshold)
                grid = day_hour_grid(conn, scope, period)
                assert grid_of(conn, scope, period) == grid
                per_day: dict[int, int] = {}
                for cell in grid:
                    per_day[cell.day] = per_day.get(cell.day, 0) + cell.ms_played
                assert days_and_clock(conn, scope, period) == (per_day, listening_clock(grid))


def _history(store: Store) -> None:
    """Plays on 30 days up to 2024-03-31: the sums cover up to 2024-03-24 00:00 UTC."""
    _store(
        store,
        [(day, 600 + day, TRACKS[day % 5], 100_000 + day, "export", "u1") for day in range(61, 91)],
    )


def test_refresh_builds_once_and_reports_why(store: Store) -> None:
    _history(store)
    built = refresh_store(store, TZ, 30_000, NOW)
    assert (built.action, built.reason) == ("built", "never built")
    assert built.cutoff == datetime(2024, 3, 24, tzinfo=UTC)  # a week before the newest play's day
    with store.connect() as conn:
        summed = conn.execute(select(func.sum(tables.track_totals.c.plays))).scalar_one()
        before = conn.execute(
            select(func.count()).where(tables.plays.c.played_at < built.cutoff)
        ).scalar_one()
    assert summed == before == 22  # days 61-82 of 2024: 2024-03-02 to 2024-03-23
    assert refresh_store(store, TZ, 30_000, NOW).action == "fresh"
    assert refresh_store(store, "America/New_York", 30_000, NOW).reason == "built for Europe/Berlin"
    assert refresh_store(store, "America/New_York", 10_000, NOW).reason.startswith("built for a 30000 ms")
    with store.begin() as conn:
        conn.execute(delete(tables.plays))
    assert refresh_store(store, TZ, 10_000, NOW).action == "cleared"
    with store.connect() as conn:
        assert state(conn) is None
        assert conn.execute(select(func.count()).select_from(tables.track_totals)).scalar_one() == 0


def test_postgresql_has_statistics_of_the_sums_once_built(pg_url: str) -> None:
    """The planner reads `pg_class.reltuples`; a table never analyzed says -1 (no statistics)."""
    store = open_store(pg_url)
    _history(store)
    refresh_store(store, TZ, 30_000, NOW)
    with store.connect() as conn:
        for table in (tables.track_totals, tables.artist_totals, tables.hour_totals):
            rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
            estimated = conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE relname = %s", (table.name,)
            ).scalar_one()
            assert rows > 0
            assert estimated == rows, table.name
    store.close()


def test_the_cutoff_moves_forward_once_it_lags(store: Store) -> None:
    _history(store)
    refresh_store(store, TZ, 30_000, NOW)
    later = datetime(2024, 5, 20, 12, tzinfo=UTC)
    with store.begin() as conn:
        add_plays(conn, [{"played_at": later, "track_id": "t1", "ms_played": 60_000}])
    assert not _stale(store)  # a play after the cutoff changes no sum
    again = refresh_store(store, TZ, 30_000, later)
    assert (again.action, again.reason) == ("built", "the cutoff lags the newest play")
    assert again.cutoff == datetime(2024, 5, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    "change",
    [
        "insert old play",
        "delete old play",
        "change old ms",
        "change old track",
        "move recent play before the cutoff",
        "change old source",
    ],
)
def test_any_change_to_a_summed_play_makes_the_sums_stale(store: Store, change: str) -> None:
    _history(store)
    cutoff = refresh_store(store, TZ, 30_000, NOW).cutoff
    assert cutoff is not None
    plays = tables.plays
    old = plays.c.played_at < cutoff
    with store.begin() as conn:
        one_old = select(func.min(plays.c.id)).where(old).scalar_subquery()
        if change == "insert old play":
            add_plays(conn, [{"played_at": cutoff - timedelta(hours=5), "track_id": "t2", "ms_played": 5}])
        elif change == "delete old play":
            conn.execute(delete(plays).where(plays.c.id == one_old))
        elif change == "change old ms":
            conn.execute(update(plays).where(plays.c.id == one_old).values(ms_played=1))
        elif change == "change old track":
            conn.execute(update(plays).where(plays.c.id == one_old).values(track_id="t5"))
        elif change == "change old source":
            conn.execute(update(plays).where(plays.c.id == one_old).values(ms_played_source="estimate"))
        else:
            newest = select(func.max(plays.c.id)).scalar_subquery()
            conn.execute(
                update(plays).where(plays.c.id == newest).values(played_at=cutoff - timedelta(days=1))
            )
    assert _stale(store)
    # Stale sums are not read: every report is back to plays, and the numbers are the plain ones.
    with store.connect() as conn:
        scope = Scope()
        assert _rows(conn, per_track_of(conn, scope)) == _rows(conn, per_track(scope))
    assert refresh_store(store, TZ, 30_000, NOW).reason == "plays before the cutoff changed"
    assert not _stale(store)


@pytest.mark.parametrize(
    "change",
    [
        "add a credit",
        "drop a credit",
        "move a credit",
        "change an album",
        "rename an artist",
        "rename away from various artists",
    ],
)
def test_changes_to_the_credits_or_albums_of_summed_tracks_make_the_sums_stale(
    store: Store, change: str
) -> None:
    _history(store)
    refresh_store(store, TZ, 30_000, NOW)
    credits = tables.track_artists
    with store.begin() as conn:
        if change == "add a credit":
            conn.execute(insert(credits).values(track_id="t1", position=1, artist_id="a3"))
        elif change == "drop a credit":
            conn.execute(delete(credits).where(credits.c.track_id == "t2", credits.c.position == 1))
        elif change == "move a credit":
            conn.execute(update(credits).where(credits.c.track_id == "t3").values(artist_id="a1"))
        elif change == "change an album":
            conn.execute(update(tables.tracks).where(tables.tracks.c.id == "t3").values(album_id="al1"))
        elif change == "rename away from various artists":
            # Featured on the summed t5 but left out of the sums under that name (revision 0008).
            artist = "name:0123456789abcdef0123"
            conn.execute(update(tables.artists).where(tables.artists.c.id == artist).values(name="Z"))
        else:
            conn.execute(
                update(tables.artists).where(tables.artists.c.id == "a3").values(name="Various Artists")
            )
    assert _stale(store)
    with store.connect() as conn:
        scope = Scope()
        assert _rows(conn, per_artist_of(conn, scope)) == _rows(conn, per_artist(per_track(scope).subquery()))


def test_catalogue_changes_the_sums_do_not_read_leave_them_fresh(store: Store) -> None:
    _history(store)
    refresh_store(store, TZ, 30_000, NOW)
    with store.begin() as conn:
        # A new track with its credits (what sync adds), a summed track's other details, an
        # artist's other details, a rename of an artist no summed play credits.
        conn.execute(insert(tables.artists).values(id="a9", name="Nobody"))
        conn.execute(insert(tables.tracks).values(id="t9", name="Nine", album_id="al1"))
        conn.execute(insert(tables.track_artists).values(track_id="t9", position=0, artist_id="a1"))
        conn.execute(
            update(tables.tracks).where(tables.tracks.c.id == "t3").values(duration_ms=1, album_id="al2")
        )
        conn.execute(
            update(tables.artists).where(tables.artists.c.id == "a3").values(image_url="x", name="Gamma")
        )
        conn.execute(update(tables.artists).where(tables.artists.c.id == "a9").values(name="Somebody"))
    assert not _stale(store)


def test_changes_the_sums_do_not_read_leave_them_fresh(store: Store) -> None:
    _history(store)
    cutoff = refresh_store(store, TZ, 30_000, NOW).cutoff
    assert cutoff is not None
    plays = tables.plays
    with store.begin() as conn:
        # An old play's flags and context, and any change to a play after the cutoff.
        conn.execute(update(plays).where(plays.c.played_at < cutoff).values(skipped=True, platform="ios"))
        conn.execute(update(plays).where(plays.c.played_at >= cutoff).values(ms_played=1))
        add_plays(conn, [{"played_at": cutoff + timedelta(hours=1), "track_id": "t3", "ms_played": 9}])
        conn.execute(delete(plays).where(plays.c.played_at > cutoff + timedelta(days=5)))
    assert not _stale(store)


def test_reports_read_the_sums_while_they_are_fresh(store: Store) -> None:
    """Planted sums show up in all-time reports (so the sums are what they read), until stale."""
    _history(store)
    refresh_store(store, TZ, 30_000, NOW)
    with store.begin() as conn:
        conn.execute(
            update(tables.track_totals).where(tables.track_totals.c.track_id == "t4").values(plays=1000)
        )
        at = tables.artist_totals
        conn.execute(update(at).where(at.c.artist_id == "a2").values(plays=at.c.plays + 1000))
        period = _all_time(conn)
    with store.connect() as conn:
        assert top(conn, "tracks", Scope(), limit=1)[0]["id"] == "t4"
        report = overview(conn, period)[0]
        assert report["top_tracks"][0]["id"] == "t4" and report["plays"] > 1000
        assert report["top_artists"][0]["id"] == "a2"
        assert top(conn, "artists", Scope(), limit=1)[0]["id"] == "a2"
        # a1 and a2 have 12 plays each (t1, t2; t2, t4): with t4 planted, a2 is ahead of a1.
        assert artist_story(conn, "a1", TZ)["rank"] == 2
    with store.begin() as conn:
        summaries_module.mark_stale(conn)
    with store.connect() as conn:
        assert top(conn, "tracks", Scope(), limit=1)[0]["plays"] < 1000
        report = overview(conn, period)[0]
        assert report["plays"] == 30 and report["top_artists"][0]["plays"] < 1000
        assert track_story(conn, "t4", TZ)["plays"] == 6
        assert artist_story(conn, "a1", TZ)["rank"] == 1


def test_refresh_is_all_or_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _history(store)
    refresh_store(store, TZ, 30_000, NOW)
    with store.begin() as conn:
        summaries_module.mark_stale(conn)
        before = conn.execute(select(func.count()).select_from(tables.track_totals)).scalar_one()

    def broken(*args: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(summaries_module, "_build_hours", broken)
    with pytest.raises(RuntimeError), store.begin(immediate=True) as conn:
        refresh(conn, TZ, 30_000, NOW)
    assert _stale(store)
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.track_totals)).scalar_one() == before


def test_a_new_database_has_no_sums_and_triggers_stay_quiet(store: Store) -> None:
    with store.begin() as conn:
        add_catalogue(conn)
        add_plays(conn, [{"played_at": START, "track_id": "t1", "ms_played": 1}])
        conn.execute(
            insert(tables.plays).values(
                user_id="u1", played_at=START + timedelta(1), track_id="t2", source="api"
            )
        )
        assert state(conn) is None


def test_long_ranges_sum_the_same_plays_through_the_track_index(store: Store) -> None:
    """Past a year and a half, per-track sums avoid SQLite's played_at index: same rows, same sums."""
    moments = [START + timedelta(days=40 * i, hours=i % 24) for i in range(30)]  # over three years
    with store.begin() as conn:
        add_catalogue(conn)
        add_plays(
            conn,
            [
                {"played_at": m, "track_id": TRACKS[i % 5], "ms_played": 1000 * i}
                for i, m in enumerate(moments)
            ],
        )
    start, end = moments[2], moments[27]  # inclusive start, exclusive end: plays 2..26
    scope = Scope(None, start, end)
    assert end - start > LONG_RANGE
    expected: dict[str, list[int]] = {}
    for i in range(2, 27):
        sums = expected.setdefault(TRACKS[i % 5], [0, 0])
        sums[0] += 1
        sums[1] += 1000 * i
    with store.connect() as conn:
        rows = {r.track_id: [r.plays, int(r.ms_played)] for r in conn.execute(per_track(scope))}
        if conn.dialect.name == "sqlite":
            assert "+plays.played_at" in str(per_track(scope).compile(conn))
            # The plays after an instant (the summaries' recent part) stay a range of the index.
            assert "+plays.played_at" not in str(per_track(Scope(None, start, OPEN_END)).compile(conn))
    assert rows == expected


@pytest.mark.parametrize("query", ["e", "an", "o"])
def test_short_searches_ranked_by_the_sums_equal_searches_over_every_play(
    db_url: str, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    """A query matching many names ranks them from the stored sums: the same hits, counts and dates."""
    from bench.generate import generate_database

    from brapped.store import open_store

    search_module = sys.modules["brapped.insights.search"]  # the module, not the function of that name

    generate_database(db_url, plays=3_000, tracks=300, artists=80)
    monkeypatch.setattr(search_module, "_IN_LIST_MAX", 10)  # "many matches" at this size
    store = open_store(db_url)
    try:
        refresh_store(store, TZ, 30_000, datetime(2026, 1, 2, tzinfo=UTC))
        with store.begin() as conn:
            assert summaries_module.covering(conn, Scope()) is not None
            ranked = search_module.search(conn, query)  # (folds the names first)
            assert all(hits.total > 10 for hits in search_module._matched(conn, query).values())
            summaries_module.mark_stale(conn)
            plain = search_module.search(conn, query)
        assert ranked == plain
        assert all(len(ranked[kind]) == 10 for kind in ("tracks", "artists", "albums"))
    finally:
        store.close()


LATE = datetime(2024, 3, 30, tzinfo=UTC)


def test_a_short_search_finds_tracks_that_overtook_since_the_cutoff_and_ties(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The few candidates read from the (user_id, plays) index: a track played only since the
    cutoff that now ranks first, ties at the last place, the exact match ahead of all."""
    search_module = sys.modules["brapped.insights.search"]
    monkeypatch.setattr(search_module, "_IN_LIST_MAX", 3)
    stored_plays = {f"s{i:02d}": n for i, n in enumerate([9, 7, 5, 5, 5, 3, 2, 1, 1, 1])}
    with store.begin() as conn:
        add_catalogue(conn)
        names = {**{t: f"Ballad {t}" for t in stored_plays}, "late": "Late ballad", "exact": "Ballad"}
        conn.execute(insert(tables.tracks), [{"id": t, "name": n} for t, n in names.items()])
        rows = [
            {"played_at": START + timedelta(days=i, hours=h), "track_id": track, "ms_played": 60_000}
            for track, n in stored_plays.items()
            for i, h in [(d, int(track[1:]) % 5) for d in range(n)]
        ]
        rows.append({"played_at": START + timedelta(days=20), "track_id": "exact", "ms_played": 60_000})
        # 12 plays after the cutoff (a week before the newest play's day: 2024-03-23).
        rows += [
            {
                "played_at": datetime(2024, 3, 30, tzinfo=UTC) + timedelta(minutes=10 * k),
                "track_id": "late",
                "ms_played": 60_000,
            }
            for k in range(12)
        ]
        add_plays(conn, rows)
    assert refresh_store(store, TZ, 30_000, NOW).action == "built"
    with store.begin() as conn:
        ranked = search_module.search(conn, "ballad", limit=4)
        summaries_module.mark_stale(conn)
        plain = search_module.search(conn, "ballad", limit=4)
    assert ranked == plain
    assert [t["id"] for t in ranked["tracks"]] == ["exact", "late", "s00", "s01"]
    with store.begin() as conn:
        summaries_module.refresh(conn, TZ, 30_000, NOW)
        ranked = search_module.search(conn, "ballad", limit=5)  # the last place: three tied with 5
        summaries_module.mark_stale(conn)
        plain = search_module.search(conn, "ballad", limit=5)
    assert ranked == plain
    assert [t["id"] for t in ranked["tracks"]][:4] == ["exact", "late", "s00", "s01"]
