from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, inspect, select

from brapped.store import Store, open_store, tables
from brapped.store.schema import head_revision
from brapped.store.types import epoch

REQUIRED = {
    "plays": {
        "id", "user_id", "played_at", "track_id", "ms_played", "ms_played_source", "source",
        "context_type", "context_uri", "platform", "conn_country", "reason_start", "reason_end",
        "shuffle", "skipped", "offline", "incognito",
    },
    "tracks": {
        "id", "name", "album_id", "duration_ms", "explicit", "disc_number", "track_number", "isrc",
        "uri", "is_resolved",
    },
    "albums": {
        "id", "name", "album_type", "release_date", "release_date_precision", "total_tracks",
        "image_url",
    },
    "artists": {"id", "name", "genres", "image_url", "enriched_at"},
    "track_artists": {"track_id", "artist_id", "position"},
    "album_artists": {"album_id", "artist_id", "position"},
    "runs": {"id", "kind", "started_at", "finished_at", "outcome", "counts", "message"},
}  # fmt: skip


def test_schema_has_the_documented_tables_and_columns(store: Store) -> None:
    inspector = inspect(store.engine)
    for table, columns in REQUIRED.items():
        found = {c["name"] for c in inspector.get_columns(table)}
        assert columns <= found, f"{table} lacks {columns - found}"


def test_upgrade_twice_changes_nothing(db_url: str) -> None:
    store = open_store(db_url)
    assert store.upgrade() == (head_revision(), head_revision())
    info = store.info()
    assert info.revision == head_revision() and info.up_to_date
    assert info.tables["plays"] == 0
    store.close()


def test_played_at_round_trips_in_utc_with_milliseconds(store: Store) -> None:
    berlin = timezone(timedelta(hours=1))
    moment = datetime(2026, 1, 26, 5, 13, 50, 392_999, tzinfo=berlin)
    with store.begin() as conn:
        conn.execute(insert(tables.tracks).values(id="t1", name="Song"))
        conn.execute(insert(tables.plays).values(user_id="u", played_at=moment, track_id="t1", source="api"))
    with store.connect() as conn:
        row = conn.execute(select(tables.plays.c.played_at, epoch(tables.plays.c.played_at))).one()
    assert row[0] == datetime(2026, 1, 26, 4, 13, 50, 392_000, tzinfo=UTC)
    assert row[1] == pytest.approx(row[0].timestamp(), abs=1e-6)


def test_epoch_milliseconds_are_exact_on_every_instant(store: Store) -> None:
    """Integer epoch milliseconds in SQL (reports' local days and sessions) equal Python's."""
    from brapped.store.types import epoch_ms

    moments = [
        datetime(2008, 1, 1, tzinfo=UTC),
        datetime(2016, 2, 29, 23, 59, 59, 999_000, tzinfo=UTC),
        datetime(2024, 10, 27, 1, 0, 0, 1_000, tzinfo=UTC),
        datetime(2038, 1, 19, 3, 14, 8, 500_000, tzinfo=UTC),
    ]
    with store.begin() as conn:
        conn.execute(insert(tables.tracks).values(id="t1", name="Song"))
        for moment in moments:
            conn.execute(
                insert(tables.plays).values(user_id="u", played_at=moment, track_id="t1", source="api")
            )
    with store.connect() as conn:
        rows = conn.execute(
            select(tables.plays.c.played_at, epoch_ms(tables.plays.c.played_at)).order_by(
                tables.plays.c.played_at
            )
        ).all()
    assert [ms for _, ms in rows] == [int(m.timestamp()) * 1000 + m.microsecond // 1000 for m in moments]


def test_unique_key_rejects_the_same_play_twice(store: Store) -> None:
    from sqlalchemy.exc import IntegrityError

    moment = datetime(2026, 1, 1, tzinfo=UTC)
    with store.begin() as conn:
        conn.execute(insert(tables.tracks).values(id="t1", name="Song"))
        conn.execute(insert(tables.plays).values(user_id="u", played_at=moment, track_id="t1", source="api"))
    with pytest.raises(IntegrityError), store.begin() as conn:
        conn.execute(insert(tables.plays).values(user_id="u", played_at=moment, track_id="t1", source="api"))


def test_naive_datetimes_are_refused(store: Store) -> None:
    from sqlalchemy.exc import StatementError

    with pytest.raises(StatementError), store.begin() as conn:
        conn.execute(insert(tables.runs).values(kind="sync", started_at=datetime(2026, 1, 1)))


def test_migrations_build_exactly_the_declared_schema(store: Store) -> None:
    """tables.py and the Alembic revisions must not drift apart (indexes and columns included)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    assert diff == []
