from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from brapped.store import Store, tables
from brapped.store.estimates import update_estimates

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _play(conn, track: str, at: datetime, **extra) -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        insert(tables.plays).values(user_id="u", played_at=at, track_id=track, source="api", **extra)
    )


def test_estimate_is_gap_capped_at_duration(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(
            insert(tables.tracks),
            [
                {"id": "long", "name": "Long", "duration_ms": 300_000},
                {"id": "short", "name": "Short", "duration_ms": 120_000},
                {"id": "nodur", "name": "No duration", "duration_ms": None},
            ],
        )
        _play(conn, "short", T0)  # first play: its duration
        _play(conn, "long", T0 + timedelta(seconds=45, milliseconds=500))  # skipped after 45.5 s
        _play(conn, "short", T0 + timedelta(minutes=30))  # long silence before: capped at duration
        _play(conn, "nodur", T0 + timedelta(minutes=31))  # unknown duration: the gap
        _play(conn, "long", T0 + timedelta(minutes=40), ms_played=1234, ms_played_source="export")
        updated = update_estimates(conn, "u")
    assert updated == 4
    with store.connect() as conn:
        rows = conn.execute(
            select(tables.plays.c.ms_played, tables.plays.c.ms_played_source).order_by(
                tables.plays.c.played_at
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (120_000, "estimate"),
        (45_500, "estimate"),
        (120_000, "estimate"),
        (60_000, "estimate"),
        (1234, "export"),
    ]


def test_since_limits_the_update(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(insert(tables.tracks).values(id="t", name="T", duration_ms=200_000))
        _play(conn, "t", T0)
        _play(conn, "t", T0 + timedelta(seconds=10))
        assert update_estimates(conn, "u", since=T0 + timedelta(seconds=5)) == 1
        values = conn.execute(select(tables.plays.c.ms_played).order_by(tables.plays.c.played_at)).scalars()
        assert list(values) == [None, 10_000]
