"""summaries: per-track and per-local-hour sums of older plays, and the triggers that keep them honest

`track_totals` and `hour_totals` hold the sums of every play that ended before
`summary_state.cutoff` (brapped.insights.rollups builds them). Reports over all of a long history
read them plus the few plays after the cutoff. A trigger on `plays` marks them stale as soon as a
play before the cutoff is inserted, changed or deleted, whichever code path does it; readers then
ignore them until they are rebuilt. Plays after the cutoff (what sync adds) fire nothing costly.

SQLite: row triggers whose WHEN clause compares the play's instant with the cutoff (one indexed
lookup of a one-row table). PostgreSQL: statement triggers over the transition table, so a bulk
COPY pays one check per statement, not a function call per row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brapped.store.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Columns a summary reads: an UPDATE of any other column (context, flags) cannot make it wrong.
SUMMED = "user_id, track_id, played_at, ms_played, ms_played_source"


def upgrade() -> None:
    op.create_table(
        "summary_state",
        sa.Column("id", sa.Integer(), nullable=False, comment="always 1: one row"),
        sa.Column(
            "cutoff",
            brapped.store.types.UTCDateTime(timezone=True),
            nullable=False,
            comment="the sums hold the plays that ended before this",
        ),
        sa.Column(
            "first_played_at",
            brapped.store.types.UTCDateTime(timezone=True),
            nullable=True,
            comment="the earliest play summed (NULL: none)",
        ),
        sa.Column(
            "timezone",
            sa.String(length=64),
            nullable=False,
            comment="the zone of hour_totals' local days and hours",
        ),
        sa.Column("stream_threshold_ms", sa.Integer(), nullable=False, comment="what counted as a stream"),
        sa.Column(
            "stale", sa.Boolean(), nullable=False, comment="true once a play before the cutoff changed"
        ),
        sa.Column("built_at", brapped.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summary_state")),
    )
    op.create_table(
        "track_totals",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("track_id", sa.String(length=64), nullable=False),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("streams", sa.Integer(), nullable=False),
        sa.Column("ms_played", sa.BigInteger(), nullable=False),
        sa.Column("measured_ms", sa.BigInteger(), nullable=False),
        sa.Column("estimated_ms", sa.BigInteger(), nullable=False),
        sa.Column("unknown_plays", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "track_id", name=op.f("pk_track_totals")),
    )
    # Keyed by day first: a period's cells are read in order from a range of the key.
    op.create_table(
        "hour_totals",
        sa.Column("day", sa.Integer(), nullable=False, comment="local day number (days since 1970-01-01)"),
        sa.Column("hour", sa.Integer(), nullable=False, comment="local hour, 0-23"),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("streams", sa.Integer(), nullable=False),
        sa.Column("ms_played", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "hour", "user_id", name=op.f("pk_hour_totals")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_track_totals_track_id", "track_totals", ["track_id"], unique=False)
    op.create_table(
        "artist_totals",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("artist_id", sa.String(length=64), nullable=False),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("streams", sa.Integer(), nullable=False),
        sa.Column("ms_played", sa.BigInteger(), nullable=False),
        sa.Column("main_plays", sa.Integer(), nullable=False),
        sa.Column("featured_plays", sa.Integer(), nullable=False),
        sa.Column("main_ms", sa.BigInteger(), nullable=False),
        sa.Column("featured_ms", sa.BigInteger(), nullable=False),
        sa.Column("main_streams", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "artist_id", name=op.f("pk_artist_totals")),
    )
    op.create_table(
        "album_totals",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("album_id", sa.String(length=64), nullable=False),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("streams", sa.Integer(), nullable=False),
        sa.Column("ms_played", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "album_id", name=op.f("pk_album_totals")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


STALE_SQLITE = "UPDATE summary_state SET stale = 1 WHERE id = 1 AND stale = 0;"
CUTOFF_SQLITE = "(SELECT cutoff FROM summary_state WHERE id = 1)"


def _summed_track(row: str) -> str:
    return f"EXISTS (SELECT 1 FROM track_totals WHERE track_id = {row})"


# (name, event, WHEN) of the SQLite row triggers: each marks the sums stale.
SQLITE_TRIGGERS = (
    ("summaries_insert", "INSERT ON plays", f"NEW.played_at < {CUTOFF_SQLITE}"),
    (
        "summaries_update",
        f"UPDATE OF {SUMMED} ON plays",
        f"OLD.played_at < {CUTOFF_SQLITE} OR NEW.played_at < {CUTOFF_SQLITE}",
    ),
    ("summaries_delete", "DELETE ON plays", f"OLD.played_at < {CUTOFF_SQLITE}"),
    # Credits and albums of summed tracks, and the names that decide "Various Artists": the
    # per-artist and per-album sums depend on them.
    ("summaries_credits_insert", "INSERT ON track_artists", _summed_track("NEW.track_id")),
    (
        "summaries_credits_update",
        "UPDATE ON track_artists",
        f"{_summed_track('OLD.track_id')} OR {_summed_track('NEW.track_id')}",
    ),
    ("summaries_credits_delete", "DELETE ON track_artists", _summed_track("OLD.track_id")),
    (
        "summaries_track_album",
        "UPDATE OF id, album_id ON tracks",
        f"(OLD.id IS NOT NEW.id OR OLD.album_id IS NOT NEW.album_id) AND {_summed_track('OLD.id')}",
    ),
    (
        "summaries_artist_name",
        "UPDATE OF id, name ON artists",
        "(OLD.id IS NOT NEW.id OR OLD.name IS NOT NEW.name) "
        "AND EXISTS (SELECT 1 FROM artist_totals WHERE artist_id = OLD.id)",
    ),
)


def _sqlite_triggers() -> None:
    for name, event, when in SQLITE_TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} AFTER {event} WHEN {when} BEGIN {STALE_SQLITE} END")


# PostgreSQL: statement triggers over transition tables (one check per statement). Transition
# tables rule out UPDATE OF a column list, so updates compare the columns the sums read instead:
# updating a play's flags, or a track's other details, leaves the sums alone, as on SQLite.
# (function, trigger table, the EXISTS condition over `old_rows` / `new_rows`)
def _changed(columns: str) -> str:
    old = ", ".join(f"o.{c.strip()}" for c in columns.split(","))
    new = ", ".join(f"n.{c.strip()}" for c in columns.split(","))
    return f"({old}) IS DISTINCT FROM ({new})"


PG_CHECKS = {
    "summaries_plays_new": "SELECT 1 FROM new_rows c, summary_state s WHERE c.played_at < s.cutoff",
    "summaries_plays_old": "SELECT 1 FROM old_rows c, summary_state s WHERE c.played_at < s.cutoff",
    "summaries_plays_update": "SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id, summary_state s "
    f"WHERE (o.played_at < s.cutoff OR n.played_at < s.cutoff) AND {_changed(SUMMED)}",
    "summaries_credits_new": "SELECT 1 FROM new_rows c JOIN track_totals t ON t.track_id = c.track_id",
    "summaries_credits_old": "SELECT 1 FROM old_rows c JOIN track_totals t ON t.track_id = c.track_id",
    "summaries_credits_update": "SELECT 1 FROM track_totals t WHERE t.track_id IN "
    "(SELECT track_id FROM old_rows UNION ALL SELECT track_id FROM new_rows)",
    "summaries_tracks_update": "SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id "
    "JOIN track_totals t ON t.track_id = o.id WHERE o.album_id IS DISTINCT FROM n.album_id",
    "summaries_artists_update": "SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id "
    "JOIN artist_totals t ON t.artist_id = o.id WHERE o.name IS DISTINCT FROM n.name",
}
# (trigger, event and table, function, transition tables)
PG_TRIGGERS = (
    ("summaries_insert", "INSERT ON plays", "summaries_plays_new", "NEW TABLE AS new_rows"),
    (
        "summaries_update",
        "UPDATE ON plays",
        "summaries_plays_update",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
    ("summaries_delete", "DELETE ON plays", "summaries_plays_old", "OLD TABLE AS old_rows"),
    ("summaries_credits_insert", "INSERT ON track_artists", "summaries_credits_new", "NEW TABLE AS new_rows"),
    (
        "summaries_credits_update",
        "UPDATE ON track_artists",
        "summaries_credits_update",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
    ("summaries_credits_delete", "DELETE ON track_artists", "summaries_credits_old", "OLD TABLE AS old_rows"),
    (
        "summaries_track_album",
        "UPDATE ON tracks",
        "summaries_tracks_update",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
    (
        "summaries_artist_name",
        "UPDATE ON artists",
        "summaries_artists_update",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
)


def _postgresql_triggers() -> None:
    for function, condition in PG_CHECKS.items():
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF EXISTS ({condition}) THEN "
            "UPDATE summary_state SET stale = true WHERE id = 1 AND NOT stale; END IF; "
            "RETURN NULL; END $$"
        )
    for name, event, function, tables in PG_TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} REFERENCING {tables} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    op.execute(
        "CREATE FUNCTION summaries_forget() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "UPDATE summary_state SET stale = true WHERE id = 1; RETURN NULL; END $$"
    )
    for table in ("plays", "track_artists"):
        op.execute(
            f"CREATE TRIGGER summaries_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION summaries_forget()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, event, _function, _tables in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {event.split(' ON ')[1]}")
        for table in ("plays", "track_artists"):
            op.execute(f"DROP TRIGGER IF EXISTS summaries_truncate ON {table}")
        for function in (*PG_CHECKS, "summaries_forget"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for name, _event, _when in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("album_totals")
    op.drop_table("artist_totals")
    op.drop_index("ix_track_totals_track_id", table_name="track_totals")
    op.drop_table("hour_totals")
    op.drop_table("track_totals")
    op.drop_table("summary_state")
