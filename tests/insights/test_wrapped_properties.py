"""Wrapped's shortcuts against plain Python recomputations, on generated histories (both databases).

Wrapped reads a period's plays once and then takes shortcuts: sessions found by joining each play
to its neighbours, the top artist of each month ranked among a few candidates only. These tests
recompute both the slow, obvious way from the same rows and require identical answers.
"""

from __future__ import annotations

import sys
import threading
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from brapped.insights import Period, Scope, wrapped
from brapped.insights.aggregates import per_track
from brapped.insights.scope import materialized
from brapped.insights.top import top_tracks
from brapped.store import Store, tables
from tests.insights.conftest import TZ, VA, add_catalogue, add_plays

# The module, not the function the package exports under the same name.
wrapped_module = sys.modules["brapped.insights.wrapped"]

START = datetime(2024, 1, 1, tzinfo=UTC)
TRACKS = ["t1", "t2", "t3", "t4", "t5"]
CREDITS = {"t1": ["a1"], "t2": ["a1", "a2"], "t3": ["a3"], "t4": ["a2"], "t5": []}  # t5: Various Artists
NAMES = {"a1": "Alpha", "a2": "Beta", "a3": "Gamma"}
GAP_MS = 30 * 60_000

play = st.tuples(
    st.integers(0, 24),  # one of 25 days spread over the year (every month gets some)
    st.integers(0, 24 * 60 - 1),  # minute of that day (UTC)
    st.sampled_from(TRACKS),
    st.one_of(st.none(), st.integers(0, 50 * 60_000)),  # ms played; long ones overlap the next
    st.sampled_from(["u1", "u2"]),
)
histories = st.lists(play, min_size=1, max_size=60, unique_by=lambda p: (p[0], p[1], p[4]))


def _rows(history: list[tuple[int, int, str, int | None, str]]) -> list[dict[str, Any]]:
    return [
        {
            "played_at": START + timedelta(days=day * 14 + 3, minutes=minute),
            "track_id": track,
            "ms_played": ms,
            "user_id": user,
        }
        for day, minute, track, ms, user in history
    ]


def _store(store: Store, history: list[tuple[int, int, str, int | None, str]]) -> list[dict[str, Any]]:
    """Replace the stored plays with `history` (the catalogue is added once per database)."""
    rows = _rows(history)
    with store.begin() as conn:
        if conn.execute(tables.artists.select().limit(1)).first() is None:
            add_catalogue(conn)
        conn.execute(delete(tables.plays))
        add_plays(conn, rows)
    return rows


def _longest_session(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Sessions the obvious way: walk each account's plays in order, cut where the gap is 30 min+."""
    best: tuple[int, int, int, int] | None = None  # (start, end, plays, ms)
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_user[row["user_id"]].append({**row, "seq": index})
    for user_rows in by_user.values():
        user_rows.sort(key=lambda r: (r["played_at"], r["seq"]))
        session: list[tuple[int, int]] = []  # (start ms, end ms, ms) of the current session's plays
        sessions = []
        previous_end = None
        for r in user_rows:
            end = int(r["played_at"].timestamp() * 1000)
            ms = r["ms_played"] or 0
            start = end - ms
            if previous_end is not None and start - previous_end >= GAP_MS:
                sessions.append(session)
                session = []
            session.append((start, end, ms))
            previous_end = end
        sessions.append(session)
        for s in sessions:
            candidate = (s[0][0], s[-1][1], len(s), sum(p[2] for p in s))
            if best is None or (candidate[1] - candidate[0], -candidate[0]) > (best[1] - best[0], -best[0]):
                best = candidate
    if best is None:
        return None
    tz = ZoneInfo(TZ)

    def local(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).isoformat(timespec="seconds")

    return {
        "start": local(best[0]),
        "end": local(best[1]),
        "minutes": round((best[1] - best[0]) / 60_000, 2),
        "plays": best[2],
        "minutes_listened": round(best[3] / 60_000, 2),
    }


def _top_artist_by_month(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every artist's plays in every local month, then the best (plays, minutes, id) per month."""
    tz = ZoneInfo(TZ)
    sums: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in rows:
        month = r["played_at"].astimezone(tz).strftime("%Y-%m")
        for artist in CREDITS[r["track_id"]]:
            sums[month][artist][0] += 1
            sums[month][artist][1] += r["ms_played"] or 0
    result = []
    for month in sorted(sums):
        artist, (n, ms) = min(sums[month].items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
        result.append(
            {
                "month": month,
                "artist": {"id": artist, "name": NAMES[artist]},
                "plays": n,
                "minutes": round(ms / 60_000, 2),
            }
        )
    return result


@pytest.mark.parametrize("probe", [1, 10])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_sessions_and_monthly_top_artists_match_a_plain_recomputation(
    store: Store, monkeypatch: pytest.MonkeyPatch, probe: int, history: list[Any]
) -> None:
    # probe=1: the candidate bound comes from one artist only, so it prunes the most.
    monkeypatch.setattr(wrapped_module, "MONTH_PROBE_ARTISTS", probe)
    rows = _store(store, history)
    with store.connect() as conn:
        report = wrapped(conn, Period.year(2024, TZ))
    assert report["plays"] == len(rows)
    assert report["longest_session"] == _longest_session(rows)
    assert report["top_artist_by_month"] == _top_artist_by_month(rows)
    assert all(m["artist"]["id"] != VA for m in report["top_artist_by_month"])
    # A quarter: its race steps by week, so its months are ranked in SQL, not from the race's sums.
    quarter = Period(date(2024, 1, 1), date(2024, 3, 31), TZ)
    with store.connect() as conn:
        report = wrapped(conn, quarter)
    inside = [r for r in rows if quarter.start_utc <= r["played_at"] < quarter.end_utc]
    assert report["artist_race"]["step"] == "week"
    assert report["top_artist_by_month"] == _top_artist_by_month(inside)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories, limit=st.integers(1, 4), by=st.sampled_from(["plays", "streams", "minutes"]))
def test_top_tracks_from_contenders_equal_top_tracks_of_every_row(
    store: Store, history: list[Any], limit: int, by: Any
) -> None:
    """Top tracks from materialised sums join only the rows that can make the list: same list."""
    rows = _store(store, history)
    scope = Scope.of(Period.year(2024, TZ))
    with store.connect() as conn, materialized(conn, per_track(scope)) as pt:
        shortcut = top_tracks(conn, scope, by=by, limit=limit, source=pt)
        plain = top_tracks(conn, scope, by=by, limit=limit)
    assert shortcut == plain
    assert len(plain) == min(limit, len({r["track_id"] for r in rows}))


def test_alongside_runs_on_another_connection_and_passes_errors_on(store: Store) -> None:
    from brapped.insights.scope import alongside

    def whose(other: Any) -> tuple[str, int]:
        return threading.current_thread().name, id(other.connection.dbapi_connection)

    def fails(other: Any) -> None:
        raise ValueError("boom")

    with store.connect() as conn:
        thread, connection = alongside(conn, whose)()
        assert thread.startswith("brapped-report") and connection != id(conn.connection.dbapi_connection)
        with pytest.raises(ValueError, match="boom"):
            alongside(conn, fails)()


def test_alongside_on_an_in_memory_database_stays_on_the_connection() -> None:
    from brapped.insights.scope import alongside
    from brapped.store import open_store

    memory = open_store("sqlite://")
    try:
        with memory.connect() as conn:
            thread, connection = alongside(conn, lambda other: (threading.current_thread().name, other))()
            assert connection is conn and not thread.startswith("brapped-report")
    finally:
        memory.close()


def _credit_ranking(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Top 10 (artist, credit) the obvious way: each stream 1 to the main artist, 0.5 to a guest."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0, 0])  # credit, streams, plays, ms
    for row in rows:
        stream = row["ms_played"] is not None and row["ms_played"] >= 30_000
        for position, artist in enumerate(CREDITS[row["track_id"]]):
            entry = sums[artist]
            entry[0] += (1 if position == 0 else 0.5) * stream
            entry[1] += stream
            entry[2] += 1
            entry[3] += row["ms_played"] or 0
    ranked = sorted(
        sums.items(), key=lambda kv: (-kv[1][0], -kv[1][1], -kv[1][2], -kv[1][3], NAMES[kv[0]], kv[0])
    )
    return [(artist, s[0]) for artist, s in ranked[:10]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_artist_race_and_obsession_equal_the_obvious_computation(store: Store, history: list[Any]) -> None:
    """Each monthly frame of the race ranks the plays up to its end; the obsession is the best
    7-day window of any track, found by trying every window."""
    rows = _store(store, history)
    tz = ZoneInfo(TZ)
    with store.connect() as conn:
        report = wrapped(conn, Period.year(2024, TZ))
    frames = report["artist_race"]["frames"]
    assert [f["label"] for f in frames] == [f"2024-{m:02d}" for m in range(1, 13)]
    for frame in frames:
        end = datetime.fromisoformat(frame["end"]).date()
        upto = [r for r in rows if r["played_at"].astimezone(tz).date() <= end]
        assert [(a["id"], a["credit"]) for a in frame["ranking"]] == _credit_ranking(upto)
    assert [(a["id"], a["credit"]) for a in report["top_artists"][:10]] == _credit_ranking(rows)

    per_day: dict[tuple[str, Any], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        cell = per_day[(r["track_id"], r["played_at"].astimezone(tz).date())]
        cell[0] += 1
        cell[1] += r["ms_played"] or 0
    best = min(
        (
            -sum(per_day.get((t, d + timedelta(days=k)), [0, 0])[0] for k in range(7)),
            -sum(per_day.get((t, d + timedelta(days=k)), [0, 0])[1] for k in range(7)),
            d,
            t,
        )
        for t, d in per_day
    )
    got = report["obsession"]
    assert (got["plays"], got["start"], got["track"]["id"]) == (-best[0], best[2].isoformat(), best[3])
