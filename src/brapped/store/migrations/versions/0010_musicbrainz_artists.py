"""MusicBrainz facts: genres with their source and votes, artist facts, tags, and their BI views

`artist_genres` gains `source` ('spotify' for every existing row), `votes` and `fetched_at`, so
MusicBrainz genres feed the same genre reports as Spotify's. `musicbrainz_artists` holds one row per
artist brapped tried to map (mapped or why not) with type, country, area and active years;
`artist_tags` the tags kept for artists MusicBrainz gives no genre. Views `v_artist_facts` and
`v_artist_genres` expose them to BI tools (docs/schema.md).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brapped.store.types
from brapped.store.views import create_artist_views, drop_artist_views

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN with a constant default: no table rebuild on SQLite, so the triggers of 0008 on
    # artist_genres stay as they are.
    op.add_column(
        "artist_genres",
        sa.Column(
            "source",
            sa.String(length=16),
            server_default="spotify",
            nullable=False,
            comment="'spotify' or 'musicbrainz': who said so",
        ),
    )
    op.add_column(
        "artist_genres",
        sa.Column(
            "votes",
            sa.Integer(),
            nullable=True,
            comment="MusicBrainz net votes for the genre; NULL from Spotify",
        ),
    )
    op.add_column(
        "artist_genres",
        sa.Column(
            "fetched_at",
            brapped.store.types.UTCDateTime(),
            nullable=True,
            comment="when the source was asked (NULL: before revision 0010)",
        ),
    )
    op.create_table(
        "musicbrainz_artists",
        sa.Column("artist_id", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="'mapped', or why not: 'no_match', 'ambiguous', 'not_found'",
        ),
        sa.Column(
            "mbid", sa.String(length=36), nullable=True, comment="MusicBrainz artist id; NULL when not mapped"
        ),
        sa.Column(
            "mapped_by",
            sa.String(length=8),
            nullable=True,
            comment="'url' (Spotify link on MusicBrainz) or 'search'",
        ),
        sa.Column("name", sa.Text(), nullable=True, comment="the name on MusicBrainz"),
        sa.Column(
            "type",
            sa.String(length=32),
            nullable=True,
            comment="Person, Group, Orchestra, Choir, Character, Other",
        ),
        sa.Column("country", sa.String(length=8), nullable=True, comment="ISO 3166-1 code"),
        sa.Column(
            "area", sa.Text(), nullable=True, comment="the area's name (a country, or a city or region)"
        ),
        sa.Column("begin_year", sa.Integer(), nullable=True),
        sa.Column("end_year", sa.Integer(), nullable=True),
        sa.Column("disambiguation", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), server_default="musicbrainz", nullable=False),
        sa.Column(
            "fetched_at",
            brapped.store.types.UTCDateTime(),
            nullable=False,
            comment="when MusicBrainz was last asked",
        ),
        sa.ForeignKeyConstraint(
            ["artist_id"], ["artists.id"], name=op.f("fk_musicbrainz_artists_artist_id_artists")
        ),
        sa.PrimaryKeyConstraint("artist_id", name=op.f("pk_musicbrainz_artists")),
    )
    op.create_table(
        "artist_tags",
        sa.Column("artist_id", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=200), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), server_default="musicbrainz", nullable=False),
        sa.Column("fetched_at", brapped.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["artist_id"], ["artists.id"], name=op.f("fk_artist_tags_artist_id_artists")),
        sa.PrimaryKeyConstraint("artist_id", "tag", name=op.f("pk_artist_tags")),
    )
    create_artist_views(op.get_bind())


def downgrade() -> None:
    drop_artist_views(op.get_bind())
    op.drop_table("artist_tags")
    op.drop_table("musicbrainz_artists")
    op.drop_column("artist_genres", "fetched_at")
    op.drop_column("artist_genres", "votes")
    op.drop_column("artist_genres", "source")
