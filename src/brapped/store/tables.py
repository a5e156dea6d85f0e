"""The star schema, declared once. Names here are part of the product: BI users query them.

See docs/schema.md for what every column means. Changes go through a new Alembic revision.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from brapped.store.types import UTCDateTime

# Stable constraint names so Alembic migrations can refer to them on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only gives an autoincrementing rowid to INTEGER PRIMARY KEY; PostgreSQL wants BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(64), primary_key=True, comment="Spotify user id"),
    Column("display_name", Text),
    Column("country", String(8)),
    Column("first_seen_at", UTCDateTime),
)

artists = Table(
    "artists",
    metadata,
    Column("id", String(64), primary_key=True, comment="Spotify id, or name:<hash> until resolved"),
    Column("name", Text, nullable=False),
    Column("genres", Text, comment="JSON list; NULL when Spotify did not say"),
    Column("popularity", Integer),
    Column("followers", BigInteger),
    Column("image_url", Text),
    Column("uri", Text),
    Column("enriched_at", UTCDateTime),
)

artist_genres = Table(
    "artist_genres",
    metadata,
    Column("artist_id", String(64), ForeignKey("artists.id"), primary_key=True),
    Column("genre", String(200), primary_key=True),
    Column(
        "source",
        String(16),
        nullable=False,
        server_default="spotify",
        comment="'spotify' or 'musicbrainz': who said so",
    ),
    Column("votes", Integer, comment="MusicBrainz net votes for the genre; NULL from Spotify"),
    Column("fetched_at", UTCDateTime, comment="when the source was asked (NULL: before revision 0010)"),
)

# MusicBrainz's word on each artist brapped tried to map (one row per artist, mapped or not).
musicbrainz_artists = Table(
    "musicbrainz_artists",
    metadata,
    Column("artist_id", String(64), ForeignKey("artists.id"), primary_key=True),
    Column(
        "status",
        String(16),
        nullable=False,
        comment="'mapped', or why not: 'no_match', 'ambiguous', 'not_found'",
    ),
    Column("mbid", String(36), comment="MusicBrainz artist id; NULL when not mapped"),
    Column("mapped_by", String(8), comment="'url' (Spotify link on MusicBrainz) or 'search'"),
    Column("name", Text, comment="the name on MusicBrainz"),
    Column("type", String(32), comment="Person, Group, Orchestra, Choir, Character, Other"),
    Column("country", String(8), comment="ISO 3166-1 code"),
    Column("area", Text, comment="the area's name (a country, or a city or region)"),
    Column("begin_year", Integer),
    Column("end_year", Integer),
    Column("disambiguation", Text),
    Column("source", String(16), nullable=False, server_default="musicbrainz"),
    Column("fetched_at", UTCDateTime, nullable=False, comment="when MusicBrainz was last asked"),
)

# MusicBrainz tags (folksonomy), kept only for artists with no genre: a labelled fallback, never
# mixed into the genre lists.
artist_tags = Table(
    "artist_tags",
    metadata,
    Column("artist_id", String(64), ForeignKey("artists.id"), primary_key=True),
    Column("tag", String(200), primary_key=True),
    Column("votes", Integer, nullable=False),
    Column("source", String(16), nullable=False, server_default="musicbrainz"),
    Column("fetched_at", UTCDateTime, nullable=False),
)

albums = Table(
    "albums",
    metadata,
    Column("id", String(64), primary_key=True, comment="Spotify id, or name:<hash> until resolved"),
    Column("name", Text, nullable=False),
    Column("album_type", String(32)),
    Column("release_date", String(10), comment="'YYYY', 'YYYY-MM' or 'YYYY-MM-DD' as Spotify gives"),
    Column("release_date_precision", String(8)),
    Column("total_tracks", Integer),
    Column("image_url", Text),
    Column("uri", Text),
    Column("label", Text),
    Column("popularity", Integer),
    Column("enriched_at", UTCDateTime),
)

album_artists = Table(
    "album_artists",
    metadata,
    Column("album_id", String(64), ForeignKey("albums.id"), primary_key=True),
    Column("position", Integer, primary_key=True, comment="0 = main artist, 1.. = others"),
    Column("artist_id", String(64), ForeignKey("artists.id"), nullable=False),
    UniqueConstraint("album_id", "artist_id"),
)

tracks = Table(
    "tracks",
    metadata,
    Column("id", String(64), primary_key=True, comment="Spotify id, or name:<hash> until resolved"),
    Column("name", Text, nullable=False),
    Column("album_id", String(64), ForeignKey("albums.id")),
    Column("duration_ms", Integer),
    Column("explicit", Boolean),
    Column("disc_number", Integer),
    Column("track_number", Integer),
    Column("isrc", String(16)),
    Column("uri", Text),
    Column("popularity", Integer),
    Column("is_resolved", Boolean, nullable=False, server_default="0"),
    Column("resolve_attempted_at", UTCDateTime),
    Index("ix_tracks_album_id", "album_id"),
    Index("ix_tracks_id_album_id", "id", "album_id"),  # revision 0004: reports, index-only
)

track_artists = Table(
    "track_artists",
    metadata,
    Column("track_id", String(64), ForeignKey("tracks.id"), primary_key=True),
    Column("position", Integer, primary_key=True, comment="0 = main artist, 1.. = featured"),
    Column("artist_id", String(64), ForeignKey("artists.id"), nullable=False),
    UniqueConstraint("track_id", "artist_id"),
    Index("ix_track_artists_artist_id", "artist_id"),
    # revision 0004: every artist report reads credits from this index alone
    Index("ix_track_artists_track_id_position_artist_id", "track_id", "position", "artist_id"),
)

# The plays whose length is estimated from the gaps between plays (or not yet): synced plays
# without a measured length (brapped.store.estimates). SQL, as the partial index below keeps it.
ESTIMATED_PLAYS = "ms_played_source IS NULL OR ms_played_source = 'estimate'"

plays = Table(
    "plays",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", String(64), nullable=False),
    Column("played_at", UTCDateTime, nullable=False, comment="UTC instant the play ended"),
    Column("track_id", String(64), ForeignKey("tracks.id"), nullable=False),
    Column("ms_played", Integer),
    Column("ms_played_source", String(8), comment="'export' | 'estimate' | NULL"),
    Column("source", String(8), nullable=False, comment="'api' | 'export' | 'both'"),
    Column("context_type", String(32)),
    Column("context_uri", Text),
    Column("platform", Text),
    Column("conn_country", String(8)),
    Column("reason_start", String(32)),
    Column("reason_end", String(32)),
    Column("shuffle", Boolean),
    Column("skipped", Boolean),
    Column("offline", Boolean),
    Column("incognito", Boolean),
    Column("offline_at", UTCDateTime),
    Column(
        "reported_at",
        UTCDateTime,
        comment="the export's ts when played_at is not it: an offline play moved to its real end",
    ),
    Column("ip_addr", Text, comment="only with import --keep-personal"),
    Column("user_agent", Text, comment="only with import --keep-personal"),
    UniqueConstraint("user_id", "played_at", "track_id"),
    Index("ix_plays_played_at", "played_at"),
    # revision 0006 (0004 without the sums): discoveries, search, and per-track sums from the index
    # Revision 0012: with user_id, one account's per-track probes read the index alone.
    Index(
        "ix_plays_track_id_played_at_ms_user",
        "track_id",
        "played_at",
        "ms_played",
        "ms_played_source",
        "user_id",
    ),
    # Revision 0014: the plays whose length is estimated (or not yet), which each sync and import
    # re-estimates; an account that only imports has none, and the index no entry.
    Index(
        "ix_plays_estimated",
        "user_id",
        "played_at",
        sqlite_where=text(ESTIMATED_PLAYS),
        postgresql_where=text(ESTIMATED_PLAYS),
    ),
)

episodes = Table(
    "episodes",
    metadata,
    Column("id", String(64), primary_key=True, comment="Spotify episode or audiobook chapter id"),
    Column("kind", String(16), nullable=False, comment="'podcast' | 'audiobook'"),
    Column("name", Text, nullable=False),
    Column("show_name", Text, comment="podcast show or audiobook title"),
    Column("uri", Text),
    Column("show_uri", Text),
)

episode_plays = Table(
    "episode_plays",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", String(64), nullable=False),
    Column("played_at", UTCDateTime, nullable=False),
    Column("episode_id", String(64), ForeignKey("episodes.id"), nullable=False),
    Column("ms_played", Integer),
    Column("ms_played_source", String(8)),
    Column("source", String(8), nullable=False),
    Column("platform", Text),
    Column("conn_country", String(8)),
    Column("reason_start", String(32)),
    Column("reason_end", String(32)),
    Column("shuffle", Boolean),
    Column("skipped", Boolean),
    Column("offline", Boolean),
    Column("incognito", Boolean),
    Column("ip_addr", Text),
    Column("user_agent", Text),
    UniqueConstraint("user_id", "played_at", "episode_id"),
    Index("ix_episode_plays_played_at", "played_at"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "kind",
        String(16),
        nullable=False,
        comment="sync | import | enrich | migrate | run | export",
    ),
    Column("user_id", String(64)),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    Column("outcome", String(16), comment="running | ok | partial | rate_limited | failed | interrupted"),
    Column("counts", Text, comment="JSON object of counters"),
    Column("message", Text),
    # Revision 0009: who runs it and how long it may stay silent (brapped.store.runs).
    Column("host", String(255), comment="host name of the process"),
    Column("pid", Integer, comment="process id on that host"),
    Column("stale_after_s", Integer, comment="seconds without a heartbeat before it is stale"),
    Index("ix_runs_kind_started_at", "kind", "started_at"),
    Index("ix_runs_outcome", "outcome"),
)

gaps = Table(
    "gaps",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", String(64), nullable=False),
    Column("gap_from", UTCDateTime, nullable=False, comment="newest play known before the gap"),
    Column("gap_to", UTCDateTime, nullable=False, comment="oldest play seen after the gap"),
    Column("detected_at", UTCDateTime, nullable=False),
    Column("run_id", Id, ForeignKey("runs.id")),
    Column("filled_at", UTCDateTime, comment="when an export import covered it"),
    UniqueConstraint("user_id", "gap_from", "gap_to"),
)

imported_files = Table(
    "imported_files",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("format", String(32), nullable=False),
    Column("records", Integer, nullable=False),
    Column("first_played_at", UTCDateTime),
    Column("last_played_at", UTCDateTime),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("run_id", Id, ForeignKey("runs.id")),
)

# Which file contents each account's plays already hold in full, so that importing an unchanged
# file again is recognised by its size and hash and not read (brapped.store.known_files). In
# TABLES_IN_ORDER: it goes wherever the plays go, and is emptied with them.
known_files = Table(
    "known_files",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("sha256", String(64), primary_key=True, comment="of the file's bytes"),
    Column("size", BigInteger, nullable=False, comment="the file's size as its folder or zip states it"),
    Column("plays", Integer, nullable=False, comment="its records stored as plays (new, known, merged)"),
    Column("skipped", Text, nullable=False, comment="JSON object: its records not stored, by reason"),
    Column("run_id", Id, ForeignKey("runs.id")),
)
Index("ix_known_files_user_id_size", known_files.c.user_id, known_files.c.size)

state = Table(
    "state",
    metadata,
    Column("scope", String(64), primary_key=True, comment="user id, or 'global'"),
    Column("key", String(64), primary_key=True),
    Column("value", Text),
    Column("updated_at", UTCDateTime),
)

locks = Table(
    "locks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", Text, nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# Derived: names folded (lower case, no accents) for search; rebuilt from tracks/artists/albums on
# demand by brapped.insights.search, so it is not copied or exported (not in TABLES_IN_ORDER).
search_names = Table(
    "search_names",
    metadata,
    Column("kind", String(8), primary_key=True, comment="'track' | 'artist' | 'album'"),
    Column("item_id", String(64), primary_key=True),
    Column("name", Text, nullable=False, comment="the name that was folded (to spot renames)"),
    Column("folded", Text, nullable=False),
)

# Derived: sums of the plays before `summary_state.cutoff`, so that reports over all of a long
# history (the all-time overview, top lists, artist pages) read tens of thousands of rows instead
# of every play. Rebuilt by brapped.insights.rollups; triggers on `plays` (revision 0007) mark
# them stale when a play before the cutoff is added, changed or removed, and readers then fall back
# to `plays`. Not copied or exported (not in TABLES_IN_ORDER): a new database rebuilds them.
summary_state = Table(
    "summary_state",
    metadata,
    Column("id", Integer, primary_key=True, comment="always 1: one row"),
    Column("cutoff", UTCDateTime, nullable=False, comment="the sums hold the plays that ended before this"),
    Column("first_played_at", UTCDateTime, comment="the earliest play summed (NULL: none)"),
    Column("timezone", String(64), nullable=False, comment="the zone of hour_totals' local days and hours"),
    Column("stream_threshold_ms", Integer, nullable=False, comment="what counted as a stream"),
    Column("stale", Boolean, nullable=False, comment="true once a play before the cutoff changed"),
    Column("built_at", UTCDateTime, nullable=False),
)
track_totals = Table(
    "track_totals",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("track_id", String(64), primary_key=True),
    Column("plays", Integer, nullable=False),
    Column("streams", Integer, nullable=False),
    Column("ms_played", BigInteger, nullable=False),
    Column("measured_ms", BigInteger, nullable=False),
    Column("estimated_ms", BigInteger, nullable=False),
    Column("unknown_plays", Integer, nullable=False),
    Index("ix_track_totals_track_id", "track_id"),
    Index("ix_track_totals_user_id_plays", "user_id", "plays"),
)
# Per account and artist, and per account and album, from track_totals and the credits and albums
# of its tracks (triggers on track_artists, tracks and artists mark them stale too).
artist_totals = Table(
    "artist_totals",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("artist_id", String(64), primary_key=True),
    Column("plays", Integer, nullable=False),
    Column("streams", Integer, nullable=False),
    Column("ms_played", BigInteger, nullable=False),
    Column("main_plays", Integer, nullable=False),
    Column("featured_plays", Integer, nullable=False),
    Column("main_ms", BigInteger, nullable=False),
    Column("featured_ms", BigInteger, nullable=False),
    Column("main_streams", Integer, nullable=False),
    Index("ix_artist_totals_artist_id", "artist_id"),
)
album_totals = Table(
    "album_totals",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("album_id", String(64), primary_key=True),
    Column("plays", Integer, nullable=False),
    Column("streams", Integer, nullable=False),
    Column("ms_played", BigInteger, nullable=False),
    Index("ix_album_totals_album_id", "album_id"),
)
hour_totals = Table(
    "hour_totals",
    metadata,
    # Day first: a period's cells are read in order from a range of the key.
    Column("day", Integer, primary_key=True, comment="local day number (days since 1970-01-01)"),
    Column("hour", Integer, primary_key=True, comment="local hour, 0-23"),
    Column("user_id", String(64), primary_key=True),
    Column("plays", Integer, nullable=False),
    Column("streams", Integer, nullable=False),
    Column("ms_played", BigInteger, nullable=False),
    sqlite_with_rowid=False,  # stored in key order: a range of days is read without lookups
)

# Derived: whole results of reports over closed periods (brapped.insights.report_cache), each valid while
# `report_state.generation` is the one it was computed under. Triggers (revision 0008) and every
# summaries rebuild move the generation on. Not copied or exported.
report_state = Table(
    "report_state",
    metadata,
    Column("id", Integer, primary_key=True, comment="always 1: one row"),
    Column(
        "generation",
        BigInteger,
        nullable=False,
        comment="goes up with every summaries rebuild and every change to what reports show",
    ),
)
kept_reports = Table(
    "kept_reports",
    metadata,
    Column("key", String(512), primary_key=True, comment="the report and its settings"),
    Column("generation", BigInteger, nullable=False, comment="report_state.generation then"),
    Column("code", String(64), nullable=False, comment="fingerprint of the code"),
    Column("built_at", UTCDateTime, nullable=False),
    Column("payload", Text, nullable=False, comment="the result, as JSON"),
)

# Tables in an order that satisfies foreign keys (for copying, truncating, counting).
TABLES_IN_ORDER: tuple[Table, ...] = (
    accounts,
    artists,
    artist_genres,
    musicbrainz_artists,
    artist_tags,
    albums,
    album_artists,
    tracks,
    track_artists,
    plays,
    episodes,
    episode_plays,
    runs,
    gaps,
    imported_files,
    known_files,
    state,
    locks,
)
