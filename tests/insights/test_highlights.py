"""Wrapped's cards about the past against a plain pass over the plays (both databases).

The new artists, the former top artists (the forgotten favourite), the rediscovery and the
listening age's baseline read the plays before the period as per-artist sums and a set of tracks,
built from the stored summaries when they are there (brapped.insights.earlier). These tests generate two
accounts' histories whose summaries' cutoff falls before, inside or after the period (or that have
none), and recompute every one of those figures from the rows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from brapped.insights import Period, Scope, wrapped
from brapped.insights.earlier import stored_cutoff
from brapped.insights.rollups import refresh_store, usable
from brapped.store import Store, tables
from tests.insights.conftest import TZ, add_catalogue, add_plays

FIRST = datetime(2022, 1, 1, tzinfo=UTC)
PERIOD = Period.year(2024, TZ)
PREVIOUS = PERIOD.previous()  # its totals are compared with the period's
# Where the history ends: the summaries' cutoff (a week before) falls before the period, inside it
# or after it.
ENDS = [datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 8, 1, tzinfo=UTC), datetime(2025, 9, 1, tzinfo=UTC)]
CREDITS = {"t1": ["a1"], "t2": ["a1", "a2"], "t3": ["a3"], "t4": ["a2"], "t5": []}  # t5: Various Artists
NAMES = {"a1": "Alpha", "a2": "Beta", "a3": "Gamma"}
DATED = {"t1", "t2", "t3", "t5"}  # t4's album has no release date
DAY = timedelta(days=1)
STREAM = 30_000

play = st.tuples(
    st.integers(0, 4 * 365),  # day since 2022-01-01
    st.integers(0, 24 * 60 - 1),
    st.sampled_from(sorted(CREDITS)),
    st.one_of(st.none(), st.integers(0, 90_000)),
    st.sampled_from(["u1", "u2"]),
)
histories = st.lists(play, min_size=1, max_size=50, unique_by=lambda p: (p[0], p[1], p[4]))


def _store(store: Store, history: list[Any], end: datetime, summaries: bool) -> list[dict[str, Any]]:
    rows = [
        {
            "played_at": FIRST + day * DAY + timedelta(minutes=minute),
            "track_id": track,
            "ms_played": ms,
            "user_id": user,
        }
        for day, minute, track, ms, user in history
    ]
    rows = [r for r in rows if r["played_at"] < end]
    with store.begin() as conn:
        if conn.execute(tables.artists.select().limit(1)).first() is None:
            add_catalogue(conn)
        conn.execute(delete(tables.plays))
        if rows:
            add_plays(conn, rows)
    if summaries:
        refresh_store(store, TZ, STREAM, end)
    else:
        with store.begin() as conn:
            conn.execute(delete(tables.summary_state))
    return rows


def _sums(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    """artist -> [doubled credit, streams, plays, ms]."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in rows:
        stream = int(r["ms_played"] is not None and r["ms_played"] >= STREAM)
        for position, artist in enumerate(CREDITS[r["track_id"]]):
            s = out[artist]
            s[0] += (2 if position == 0 else 1) * stream
            s[1] += stream
            s[2] += 1
            s[3] += r["ms_played"] or 0
    return out


def _expected(rows: list[dict[str, Any]], user: str | None) -> dict[str, Any]:
    tz = ZoneInfo(TZ)
    mine = [r for r in rows if user is None or r["user_id"] == user]
    start, end = PERIOD.start_utc, PERIOD.end_utc
    inside = [r for r in mine if start <= r["played_at"] < end]
    before = [r for r in mine if r["played_at"] < start]
    now, then = _sums(inside), _sums(before)

    new = sorted((a for a in now if a not in then), key=lambda a: (-now[a][2], -now[a][3], NAMES[a], a))
    former = sorted(then, key=lambda a: (-then[a][0], -then[a][1], -then[a][2], -then[a][3], NAMES[a], a))
    forgotten = None
    for rank, artist in enumerate(former, 1):
        if artist not in now:
            last = max(r["played_at"] for r in before if artist in CREDITS[r["track_id"]])
            forgotten = (artist, rank, then[artist][1], last.astimezone(tz).date().isoformat())
            break

    back = []
    for artist in now:
        first = min(r["played_at"] for r in inside if artist in CREDITS[r["track_id"]])
        earlier = [r["played_at"] for r in before if artist in CREDITS[r["track_id"]]]
        if earlier and first - max(earlier) >= timedelta(days=180):
            back.append((artist, max(earlier), first))
    back.sort(key=lambda b: (-now[b[0]][0], -now[b[0]][1], -now[b[0]][2], -(b[2] - b[1]), b[0]))
    rediscovery = None
    if back:
        artist, last, first = back[0]
        rediscovery = (
            artist,
            last.astimezone(tz).date().isoformat(),
            first.astimezone(tz).date().isoformat(),
            (first - last) // DAY,
            len(back),
        )
    last_year = [r for r in mine if PREVIOUS.start_utc <= r["played_at"] < PREVIOUS.end_utc]
    return {
        "previous": {
            "minutes_listened": round(sum(r["ms_played"] or 0 for r in last_year) / 60_000, 2),
            "plays": len(last_year),
            "streams": sum(1 for r in last_year if (r["ms_played"] or 0) >= STREAM),
            "distinct_tracks": len({r["track_id"] for r in last_year}),
            "distinct_artists": len({a for r in last_year for a in CREDITS[r["track_id"]]}),
        },
        "new": (len(new), new[:5]),
        "forgotten": forgotten,
        "rediscovery": rediscovery,
        "baseline": len({r["track_id"] for r in mine if r["played_at"] < end} & DATED),
    }


def _got(report: dict[str, Any]) -> dict[str, Any]:
    discoveries = report["discoveries"]
    gone, back = report["forgotten_favourite"], report["rediscovery"]
    previous = {k: v for k, v in report["previous_period"].items() if k != "period"}
    return {
        "previous": previous,
        "new": (discoveries["new_artists"], [a["id"] for a in discoveries["top_new_artists"]]),
        "forgotten": None
        if gone is None
        else (gone["artist"]["id"], gone["former_rank"], gone["streams_before"], gone["last_played"]),
        "rediscovery": None
        if back is None
        else (
            back["artist"]["id"],
            back["last_played_before"],
            back["back_on"],
            back["days_silent"],
            back["rediscovered_artists"],
        ),
        "baseline": report["listening_age"]["baseline_tracks_with_release_year"],
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories, end=st.sampled_from(ENDS), summaries=st.booleans())
def test_cards_about_the_past_equal_a_plain_count(
    store: Store, history: list[Any], end: datetime, summaries: bool
) -> None:
    rows = _store(store, history, end, summaries)
    for user in ("u1", None):
        with store.connect() as conn:
            report = wrapped(conn, PERIOD, user_id=user)
        assert _got(report) == _expected(rows, user)


def test_the_cutoff_before_inside_and_after_the_period_are_all_taken(store: Store) -> None:
    """The three placements of the summaries' cutoff, each with a rediscovery and a forgotten
    favourite, so the generated cases above are not the only check."""
    history = [
        (10, 0, "t3", 60_000, "u1"),  # Gamma in January 2022, then silent
        (20, 0, "t1", 60_000, "u1"),  # Alpha, the former favourite, never again
        (21, 0, "t1", 60_000, "u1"),
        (600, 0, "t2", 60_000, "u1"),  # Alpha and Beta in August 2023
        (731, 600, "t3", 60_000, "u1"),  # 2024-01-02: Gamma is back
        (732, 0, "t4", 10_000, "u1"),  # Beta alone
        (732, 1, "t4", 10_000, "u2"),
        (940, 0, "t4", 10_000, "u2"),  # 2024-07-29: the other account moves the cutoff on
        (1330, 0, "t4", 10_000, "u2"),  # 2025-08-23
    ]
    placements = []
    for end in ENDS:
        for summaries in (True, False):
            rows = _store(store, history, end, summaries)
            if summaries:
                with store.connect() as conn:
                    found = usable(conn, STREAM)
                assert found is not None
                placements.append((found.cutoff > PERIOD.start_utc) + (found.cutoff > PERIOD.end_utc))
                with store.connect() as conn:  # the sums before the period are read from them
                    assert stored_cutoff(conn, Scope.of(PERIOD, "u1")) == found.cutoff
            with store.connect() as conn:
                report = wrapped(conn, PERIOD, user_id="u1")
            expected = _expected(rows, "u1")
            assert _got(report) == expected
            assert expected["rediscovery"] is not None and expected["rediscovery"][0] == "a3"
            assert expected["forgotten"] is not None and expected["forgotten"][0] == "a1"
    assert placements == [0, 1, 2]  # before, inside, after the period
