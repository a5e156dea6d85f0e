from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, literal, select

from brapped.store import Store, tables
from brapped.store.estimates import _estimated, has_estimates, update_estimates

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


def _plan(store: Store, conn: Connection, statement: Any) -> str:
    """How the database runs `statement`: SQLite's query plan; PostgreSQL's generic plan, the one
    a statement prepared on a long-lived connection ends up with, sequential scans ruled out."""
    if store.dialect == "sqlite":
        compiled = statement.compile(conn)
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(compiled.params.values()))
        return "\n".join(str(row[-1]) for row in rows)
    compiled = statement.compile(conn)
    names = list(compiled.params)
    sql = str(compiled)
    for number, name in enumerate(names, 1):
        sql = sql.replace(f"%({name})s", f"${number}")
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    types = ", ".join("bigint" if isinstance(v, int) else "text" for v in compiled.params.values())
    conn.exec_driver_sql(f"PREPARE estimated_probe ({types}) AS {sql}")
    try:
        values = ", ".join(str(v) if isinstance(v, int) else f"'{v}'" for v in compiled.params.values())
        return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN EXECUTE estimated_probe ({values})"))
    finally:
        conn.exec_driver_sql("DEALLOCATE estimated_probe")


def test_estimated_plays_are_found_from_their_own_index(store: Store) -> None:
    # An account that only imports has no estimated play: finding that out, as every import
    # does, must not read each of its plays (revision 0014's partial index).
    with store.begin() as conn:
        conn.execute(insert(tables.tracks).values(id="t", name="T", duration_ms=200_000))
        for n in range(50):
            _play(conn, "t", T0 + timedelta(minutes=5 * n), ms_played=1000, ms_played_source="export")
        assert not has_estimates(conn, "u")
        _play(conn, "t", T0 - timedelta(minutes=5))
        assert has_estimates(conn, "u")
        probe = select(literal(1)).where(_estimated("u")).limit(1)
        assert "ix_plays_estimated" in _plan(store, conn, probe)
