"""kept reports: whole results of reports over closed periods, and the generation that guards them

A Wrapped of a past year is a second of SQL on a long history, yet its answer never changes unless
old plays, or the names, credits, albums, release dates, genres or episodes it shows, change.
`kept_reports` holds such results (brapped.insights.report_cache); each records the `report_state.generation`
it was computed under. The generation goes up with every summaries rebuild (which follows any
change to plays before the cutoff: revision 0007's triggers mark the summaries stale first) and,
through the triggers below, with every change to the catalogue a report shows. A kept result whose
generation is not the current one is never read.

Also an index of each account's tracks by stored plays, for searches of a letter or two; and it
closes a gap of 0007: renaming an artist away from "Various Artists" (left out of the
per-artist sums) now marks the summaries stale too.

The triggers are named summaries_*: a bulk load suspends them with 0007's and marks the summaries
stale instead (the rebuild that follows moves the generation on).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brapped.store.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_state",
        sa.Column("id", sa.Integer(), nullable=False, comment="always 1: one row"),
        sa.Column(
            "generation",
            sa.BigInteger(),
            nullable=False,
            comment="goes up with every summaries rebuild and every change to what reports show",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_state")),
    )
    op.execute("INSERT INTO report_state (id, generation) VALUES (1, 0)")
    op.create_table(
        "kept_reports",
        sa.Column("key", sa.String(length=512), nullable=False, comment="the report and its settings"),
        sa.Column("generation", sa.BigInteger(), nullable=False, comment="report_state.generation then"),
        sa.Column("code", sa.String(length=64), nullable=False, comment="fingerprint of the code"),
        sa.Column("built_at", brapped.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False, comment="the result, as JSON"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_kept_reports")),
    )
    # The most played tracks of an account in order (brapped.insights.rollups.most_played_tracks):
    # a search of a letter or two walks it instead of summing every track.
    op.create_index("ix_track_totals_user_id_plays", "track_totals", ["user_id", "plays"], unique=False)
    # The triggers below (and 0007's on artist names) ask whether an artist or album is summed.
    op.create_index("ix_artist_totals_artist_id", "artist_totals", ["artist_id"], unique=False)
    op.create_index("ix_album_totals_album_id", "album_totals", ["album_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


BUMP_SQLITE = "UPDATE report_state SET generation = generation + 1 WHERE id = 1;"
STALE_SQLITE = "UPDATE summary_state SET stale = 1 WHERE id = 1 AND stale = 0;"
CUTOFF_SQLITE = "(SELECT cutoff FROM summary_state WHERE id = 1)"
VARIOUS = "'various artists'"


def _differs(columns: Sequence[str]) -> str:
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


def _summed(table: str, column: str, row: str) -> str:
    return f"EXISTS (SELECT 1 FROM {table} WHERE {column} = {row})"


TRACK, ARTIST, ALBUM = (
    ("track_totals", "track_id"),
    ("artist_totals", "artist_id"),
    ("album_totals", "album_id"),
)

# (name, event, WHEN) of the SQLite row triggers that move the generation on. Only for what a
# closed period can show: tracks, albums and artists with plays before the cutoff (summed), so that
# the new tracks, albums, credits and genres every sync and enrich add leave kept reports in use.
# Artist renames count whoever is renamed (rare, and "Various Artists" is not summed).
SQLITE_TRIGGERS = (
    (
        "summaries_kept_tracks",
        "UPDATE OF id, name, album_id ON tracks",
        f"({_differs(('id', 'name', 'album_id'))}) AND {_summed(*TRACK, 'OLD.id')}",
    ),
    ("summaries_kept_artists", "UPDATE OF id, name ON artists", _differs(("id", "name"))),
    (
        "summaries_kept_albums",
        "UPDATE OF id, name, release_date ON albums",
        f"({_differs(('id', 'name', 'release_date'))}) AND {_summed(*ALBUM, 'OLD.id')}",
    ),
    ("summaries_kept_album_artists_insert", "INSERT ON album_artists", _summed(*ALBUM, "NEW.album_id")),
    (
        "summaries_kept_album_artists_update",
        "UPDATE ON album_artists",
        f"{_summed(*ALBUM, 'OLD.album_id')} OR {_summed(*ALBUM, 'NEW.album_id')}",
    ),
    ("summaries_kept_album_artists_delete", "DELETE ON album_artists", _summed(*ALBUM, "OLD.album_id")),
    ("summaries_kept_genres_insert", "INSERT ON artist_genres", _summed(*ARTIST, "NEW.artist_id")),
    (
        "summaries_kept_genres_update",
        "UPDATE ON artist_genres",
        f"{_summed(*ARTIST, 'OLD.artist_id')} OR {_summed(*ARTIST, 'NEW.artist_id')}",
    ),
    ("summaries_kept_genres_delete", "DELETE ON artist_genres", _summed(*ARTIST, "OLD.artist_id")),
    (
        "summaries_kept_episodes",
        "UPDATE OF id, kind, name, show_name ON episodes",
        _differs(("id", "kind", "name", "show_name")),
    ),
    ("summaries_kept_episode_plays_insert", "INSERT ON episode_plays", f"NEW.played_at < {CUTOFF_SQLITE}"),
    (
        "summaries_kept_episode_plays_update",
        "UPDATE ON episode_plays",
        f"OLD.played_at < {CUTOFF_SQLITE} OR NEW.played_at < {CUTOFF_SQLITE}",
    ),
    ("summaries_kept_episode_plays_delete", "DELETE ON episode_plays", f"OLD.played_at < {CUTOFF_SQLITE}"),
)
# "Various Artists" is left out of the per-artist sums: a rename away from it changes them.
VARIOUS_SQLITE = (
    "summaries_various_artists_name",
    "UPDATE OF name ON artists",
    f"lower(OLD.name) = {VARIOUS} AND lower(NEW.name) IS NOT {VARIOUS}",
)


def _sqlite_triggers() -> None:
    for name, event, when in SQLITE_TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} AFTER {event} WHEN {when} BEGIN {BUMP_SQLITE} END")
    name, event, when = VARIOUS_SQLITE
    op.execute(f"CREATE TRIGGER {name} AFTER {event} WHEN {when} BEGIN {STALE_SQLITE} END")


def _changed(columns: Sequence[str]) -> str:
    old = ", ".join(f"o.{c}" for c in columns)
    new = ", ".join(f"n.{c}" for c in columns)
    return f"({old}) IS DISTINCT FROM ({new})"


# PostgreSQL: statement triggers over transition tables, as in 0007 (one check per statement).
# function -> the EXISTS condition over `old_rows` / `new_rows`; None: always. An updated row
# whose id is not among the new rows had its id changed (brapped never does; a user might).
_UPDATED = "SELECT 1 FROM old_rows o LEFT JOIN new_rows n ON n.id = o.id"
PG_CHECKS: dict[str, str | None] = {
    "summaries_kept_tracks_update": f"{_UPDATED} JOIN track_totals t ON t.track_id = o.id "
    f"WHERE n.id IS NULL OR {_changed(('name', 'album_id'))}",
    "summaries_kept_artists_update": f"{_UPDATED} WHERE n.id IS NULL OR {_changed(('name',))}",
    "summaries_kept_albums_update": f"{_UPDATED} JOIN album_totals t ON t.album_id = o.id "
    f"WHERE n.id IS NULL OR {_changed(('name', 'release_date'))}",
    "summaries_kept_album_credits_new": "SELECT 1 FROM new_rows c "
    "JOIN album_totals t ON t.album_id = c.album_id",
    "summaries_kept_album_credits_old": "SELECT 1 FROM old_rows c "
    "JOIN album_totals t ON t.album_id = c.album_id",
    "summaries_kept_album_credits_update": "SELECT 1 FROM album_totals t WHERE t.album_id IN "
    "(SELECT album_id FROM old_rows UNION ALL SELECT album_id FROM new_rows)",
    "summaries_kept_genres_new": "SELECT 1 FROM new_rows c JOIN artist_totals t ON t.artist_id = c.artist_id",
    "summaries_kept_genres_old": "SELECT 1 FROM old_rows c JOIN artist_totals t ON t.artist_id = c.artist_id",
    "summaries_kept_genres_update": "SELECT 1 FROM artist_totals t WHERE t.artist_id IN "
    "(SELECT artist_id FROM old_rows UNION ALL SELECT artist_id FROM new_rows)",
    "summaries_kept_episodes_update": f"{_UPDATED} "
    f"WHERE n.id IS NULL OR {_changed(('kind', 'name', 'show_name'))}",
    "summaries_kept_episode_plays_new": "SELECT 1 FROM new_rows c, summary_state s "
    "WHERE c.played_at < s.cutoff",
    "summaries_kept_episode_plays_old": "SELECT 1 FROM old_rows c, summary_state s "
    "WHERE c.played_at < s.cutoff",
    "summaries_kept_episode_plays_update": "SELECT 1 FROM summary_state s WHERE EXISTS "
    "(SELECT 1 FROM old_rows c WHERE c.played_at < s.cutoff) OR EXISTS "
    "(SELECT 1 FROM new_rows c WHERE c.played_at < s.cutoff)",
    "summaries_kept_any": None,
}
BOTH = "OLD TABLE AS old_rows NEW TABLE AS new_rows"
# (trigger, event and table, function, transition tables)
PG_TRIGGERS = (
    ("summaries_kept_tracks", "UPDATE ON tracks", "summaries_kept_tracks_update", BOTH),
    ("summaries_kept_artists", "UPDATE ON artists", "summaries_kept_artists_update", BOTH),
    ("summaries_kept_albums", "UPDATE ON albums", "summaries_kept_albums_update", BOTH),
    ("summaries_kept_episodes", "UPDATE ON episodes", "summaries_kept_episodes_update", BOTH),
    *(
        (
            f"summaries_kept_{name}_{event.lower()}",
            f"{event} ON {table}",
            f"summaries_kept_{checks}_{suffix}",
            tables,
        )
        for name, table, checks in (
            ("album_artists", "album_artists", "album_credits"),
            ("genres", "artist_genres", "genres"),
        )
        for event, suffix, tables in (
            ("INSERT", "new", "NEW TABLE AS new_rows"),
            ("UPDATE", "update", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("DELETE", "old", "OLD TABLE AS old_rows"),
        )
    ),
    (
        "summaries_kept_episode_plays_insert",
        "INSERT ON episode_plays",
        "summaries_kept_episode_plays_new",
        "NEW TABLE AS new_rows",
    ),
    (
        "summaries_kept_episode_plays_update",
        "UPDATE ON episode_plays",
        "summaries_kept_episode_plays_update",
        BOTH,
    ),
    (
        "summaries_kept_episode_plays_delete",
        "DELETE ON episode_plays",
        "summaries_kept_episode_plays_old",
        "OLD TABLE AS old_rows",
    ),
)
TRUNCATED = ("tracks", "artists", "albums", "album_artists", "artist_genres", "episodes", "episode_plays")
BUMP_PG = "UPDATE report_state SET generation = generation + 1 WHERE id = 1;"


def _postgresql_triggers() -> None:
    for function, condition in PG_CHECKS.items():
        body = BUMP_PG if condition is None else f"IF EXISTS ({condition}) THEN {BUMP_PG} END IF;"
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body} RETURN NULL; END $$"
        )
    for name, event, function, tables in PG_TRIGGERS:
        referencing = f"REFERENCING {tables} " if tables else ""
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} {referencing}"
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    for table in TRUNCATED:
        op.execute(
            f"CREATE TRIGGER summaries_kept_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION summaries_kept_any()"
        )
    # The "Various Artists" gap of 0007 (see the module's docstring).
    op.execute(
        "CREATE FUNCTION summaries_various_artists_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id "
        f"WHERE lower(o.name) = {VARIOUS} AND lower(n.name) IS DISTINCT FROM {VARIOUS}) THEN "
        "UPDATE summary_state SET stale = true WHERE id = 1 AND NOT stale; END IF; RETURN NULL; END $$"
    )
    op.execute(
        f"CREATE TRIGGER summaries_various_artists_name AFTER UPDATE ON artists REFERENCING {BOTH} "
        "FOR EACH STATEMENT EXECUTE FUNCTION summaries_various_artists_update()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, event, _function, _tables in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {event.split(' ON ')[1]}")
        for table in TRUNCATED:
            op.execute(f"DROP TRIGGER IF EXISTS summaries_kept_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS summaries_various_artists_name ON artists")
        for function in (*PG_CHECKS, "summaries_various_artists_update"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for name, _event, _when in (*SQLITE_TRIGGERS, VARIOUS_SQLITE):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_album_totals_album_id", table_name="album_totals")
    op.drop_index("ix_artist_totals_artist_id", table_name="artist_totals")
    op.drop_index("ix_track_totals_user_id_plays", table_name="track_totals")
    op.drop_table("kept_reports")
    op.drop_table("report_state")
