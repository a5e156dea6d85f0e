"""summaries: per-track and per-local-hour sums of older plays, and the triggers that keep them honest

`track_totals` and `hour_totals` hold the sums of every play that ended before
`summary_state.cutoff` (brapped.insights.summaries builds them). Reports over all of a long history
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
    op.create_table(
        "hour_totals",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False, comment="local day number (days since 1970-01-01)"),
        sa.Column("hour", sa.Integer(), nullable=False, comment="local hour, 0-23"),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("streams", sa.Integer(), nullable=False),
        sa.Column("ms_played", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day", "hour", name=op.f("pk_hour_totals")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION summaries_check() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE summary_state s SET stale = true WHERE s.id = 1 AND NOT s.stale "
            "AND EXISTS (SELECT 1 FROM changed_plays c WHERE c.played_at < s.cutoff); "
            "RETURN NULL; END $$"
        )
        for name, event, table in (
            ("summaries_insert", "INSERT", "NEW"),
            ("summaries_delete", "DELETE", "OLD"),
        ):
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON plays REFERENCING {table} TABLE AS changed_plays "
                f"FOR EACH STATEMENT EXECUTE FUNCTION summaries_check()"
            )
        # Transition tables rule out UPDATE OF a column list: compare the summed columns instead,
        # so that updating a play's flags or context leaves the sums alone, as on SQLite.
        columns = [c.strip() for c in SUMMED.split(",")]
        old = ", ".join(f"o.{c}" for c in columns)
        new = ", ".join(f"n.{c}" for c in columns)
        op.execute(
            "CREATE FUNCTION summaries_check_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE summary_state s SET stale = true WHERE s.id = 1 AND NOT s.stale "
            "AND EXISTS (SELECT 1 FROM old_plays o JOIN new_plays n ON n.id = o.id "
            "WHERE (o.played_at < s.cutoff OR n.played_at < s.cutoff) "
            f"AND ({old}) IS DISTINCT FROM ({new})); "
            "RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER summaries_update AFTER UPDATE ON plays "
            "REFERENCING OLD TABLE AS old_plays NEW TABLE AS new_plays "
            "FOR EACH STATEMENT EXECUTE FUNCTION summaries_check_update()"
        )
        op.execute(
            "CREATE FUNCTION summaries_forget() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE summary_state SET stale = true WHERE id = 1; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER summaries_truncate AFTER TRUNCATE ON plays "
            "FOR EACH STATEMENT EXECUTE FUNCTION summaries_forget()"
        )
        return
    cutoff = "(SELECT cutoff FROM summary_state WHERE id = 1)"
    stale = "UPDATE summary_state SET stale = 1 WHERE id = 1 AND stale = 0;"
    op.execute(
        f"CREATE TRIGGER summaries_insert AFTER INSERT ON plays "
        f"WHEN NEW.played_at < {cutoff} BEGIN {stale} END"
    )
    op.execute(
        f"CREATE TRIGGER summaries_update AFTER UPDATE OF {SUMMED} ON plays "
        f"WHEN OLD.played_at < {cutoff} OR NEW.played_at < {cutoff} BEGIN {stale} END"
    )
    op.execute(
        f"CREATE TRIGGER summaries_delete AFTER DELETE ON plays "
        f"WHEN OLD.played_at < {cutoff} BEGIN {stale} END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("summaries_insert", "summaries_update", "summaries_delete", "summaries_truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON plays")
        op.execute("DROP FUNCTION IF EXISTS summaries_check()")
        op.execute("DROP FUNCTION IF EXISTS summaries_check_update()")
        op.execute("DROP FUNCTION IF EXISTS summaries_forget()")
    else:
        for name in ("summaries_insert", "summaries_update", "summaries_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("hour_totals")
    op.drop_table("track_totals")
    op.drop_table("summary_state")
