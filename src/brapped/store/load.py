"""Writing API-derived rows: upserts of the catalogue, plays, accounts and gaps (database only).

Each statement is INSERT ... ON CONFLICT through the dialect's own `insert`, so the same code runs
on SQLite and PostgreSQL and a re-run (or a second sync racing this one) never duplicates a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from brapped.identity import PREFIX, normalise
from brapped.store.tables import (
    accounts,
    album_artists,
    albums,
    artist_genres,
    artist_tags,
    artists,
    gaps,
    musicbrainz_artists,
    plays,
    track_artists,
    tracks,
)

Row = Mapping[str, Any]


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _groups(rows: Iterable[Row]) -> dict[tuple[str, ...], list[Row]]:
    # executemany needs one column set per statement.
    grouped: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        grouped.setdefault(tuple(sorted(row)), []).append(row)
    return grouped


def _upsert(
    conn: Connection, table: Table, rows: Iterable[Row], keys: Sequence[str], update_cols: bool
) -> None:
    for columns, group in _groups(rows).items():
        stmt: Insert = _insert(conn, table)
        changing = [c for c in columns if c not in keys]
        if update_cols and changing:
            stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=list(keys),
                set_={c: stmt.excluded[c] for c in changing},  # type: ignore[attr-defined]
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))  # type: ignore[attr-defined]
        conn.execute(stmt, group)


def upsert_artists(conn: Connection, rows: Iterable[Row], *, full: bool = False) -> None:
    """Artists: simplified rows only add unknown artists; `full` rows (enrichment) overwrite."""
    _upsert(conn, artists, rows, ["id"], update_cols=full)


def upsert_albums(conn: Connection, rows: Iterable[Row]) -> None:
    """Albums: the payload's fields overwrite what was stored (label/popularity kept unless given)."""
    _upsert(conn, albums, rows, ["id"], update_cols=True)


def upsert_tracks(conn: Connection, rows: Iterable[Row]) -> None:
    """Tracks from full track objects: complete metadata, marked resolved."""
    _upsert(conn, tracks, rows, ["id"], update_cols=True)


def replace_artist_genres(conn: Connection, artist_ids: Sequence[str], rows: Iterable[Row]) -> None:
    """Make the Spotify genres (`source` 'spotify') of these artists exactly `rows`; genres
    MusicBrainz gave stay."""
    if artist_ids:
        conn.execute(
            delete(artist_genres).where(
                artist_genres.c.artist_id.in_(list(artist_ids)), artist_genres.c.source == "spotify"
            )
        )
    rows = list(rows)
    if rows:
        conn.execute(_insert(conn, artist_genres).on_conflict_do_nothing(), rows)


def replace_positions(
    conn: Connection, table: Table, owner: str, by_owner: Mapping[str, Sequence[Row]]
) -> set[str]:
    """Make `track_artists`/`album_artists` of these owners exactly the given rows (Spotify's order).

    Only owners whose credits differ are rewritten: every sync sees the credits of tracks it has
    seen before, and rewriting them unchanged would fire the report summaries' triggers (and move
    the kept reports' generation) for nothing. Returns the artist ids that were referenced before by
    the rewritten owners and may now be orphans.
    """
    owner_col = table.c[owner]
    owners = list(by_owner)
    if not owners:
        return set()
    stored: dict[str, set[tuple[int, str]]] = {}
    for chunk in _chunked(owners, 500):
        query = select(owner_col, table.c.position, table.c.artist_id).where(owner_col.in_(chunk))
        for key, position, artist_id in conn.execute(query):
            stored.setdefault(key, set()).add((int(position), artist_id))
    changed = [
        key
        for key in owners
        if stored.get(key, set()) != {(int(r["position"]), r["artist_id"]) for r in by_owner[key]}
    ]
    before = {artist_id for key in changed for _, artist_id in stored.get(key, set())}
    for chunk in _chunked(changed, 500):
        conn.execute(delete(table).where(owner_col.in_(chunk)))
    rows = [row for key in changed for row in by_owner[key]]
    if rows:
        conn.execute(table.insert(), rows)
    return before


def insert_plays(conn: Connection, rows: Sequence[Row]) -> list[Any]:
    """Insert plays not yet stored; returns the `played_at` of the ones actually added."""
    if not rows:
        return []
    stmt = (
        _insert(conn, plays)
        .on_conflict_do_nothing(index_elements=["user_id", "played_at", "track_id"])
        .returning(plays.c.played_at)
    )
    added: list[Any] = []
    for group in _groups(rows).values():
        added.extend(conn.execute(stmt, group).scalars().all())
    return added


def ensure_account(conn: Connection, user_id: str, now: datetime) -> None:
    """An accounts row for `user_id` when there is none yet."""
    conn.execute(
        _insert(conn, accounts)
        .values(id=user_id, first_seen_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
    )


def set_display_name(conn: Connection, user_id: str, display_name: str) -> None:
    """The account's name as Spotify shows it (from /me, remembered with the tokens)."""
    conn.execute(
        update(accounts)
        .where(accounts.c.id == user_id, accounts.c.display_name.is_distinct_from(display_name))
        .values(display_name=display_name)
    )


def insert_gap(
    conn: Connection, user_id: str, gap_from: datetime, gap_to: datetime, now: datetime, run_id: int | None
) -> bool:
    """Record a stretch where plays may be missing; False when it was already recorded."""
    stmt = (
        _insert(conn, gaps)
        .values(user_id=user_id, gap_from=gap_from, gap_to=gap_to, detected_at=now, run_id=run_id)
        .on_conflict_do_nothing(index_elements=["user_id", "gap_from", "gap_to"])
        .returning(gaps.c.id)
    )
    return conn.execute(stmt).first() is not None


def delete_orphans(conn: Connection, album_ids: Iterable[str], artist_ids: Iterable[str]) -> tuple[int, int]:
    """Delete synthetic (`name:`) albums and artists nothing refers to any more; (albums, artists)."""
    gone_albums = 0
    for album_id in sorted({a for a in album_ids if a and a.startswith(PREFIX)}):
        if conn.execute(select(exists().where(tracks.c.album_id == album_id))).scalar():
            continue
        conn.execute(delete(album_artists).where(album_artists.c.album_id == album_id))
        gone_albums += conn.execute(delete(albums).where(albums.c.id == album_id)).rowcount or 0
    gone_artists = 0
    for artist_id in sorted({a for a in artist_ids if a and a.startswith(PREFIX)}):
        used = conn.execute(
            select(
                exists().where(track_artists.c.artist_id == artist_id)
                | exists().where(album_artists.c.artist_id == artist_id)
            )
        ).scalar()
        if used:
            continue
        conn.execute(delete(artist_genres).where(artist_genres.c.artist_id == artist_id))
        conn.execute(delete(artist_tags).where(artist_tags.c.artist_id == artist_id))
        conn.execute(delete(musicbrainz_artists).where(musicbrainz_artists.c.artist_id == artist_id))
        gone_artists += conn.execute(delete(artists).where(artists.c.id == artist_id)).rowcount or 0
    return gone_albums, gone_artists


def move_plays(conn: Connection, from_track: str, to_track: str) -> tuple[int, int]:
    """Re-point a synthetic track's plays at the real track; (moved, dropped as duplicates).

    A play already stored under the real id at the same instant is the same play seen twice:
    the synthetic copy is dropped.
    """
    real = plays.alias("real")
    duplicate = exists().where(
        real.c.user_id == plays.c.user_id,
        real.c.played_at == plays.c.played_at,
        real.c.track_id == to_track,
    )
    dropped = conn.execute(delete(plays).where(plays.c.track_id == from_track, duplicate)).rowcount or 0
    moved = (
        conn.execute(update(plays).where(plays.c.track_id == from_track).values(track_id=to_track)).rowcount
        or 0
    )
    return int(moved), int(dropped)


def _chunked(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


MINUTE = timedelta(minutes=1)


def merge_into_exported(
    conn: Connection,
    user_id: str,
    rows: Sequence[Row],
    tolerance_ms: int,
    names: Mapping[str, tuple[str, frozenset[str]]] | None = None,
    pause_ms: int = 0,
) -> int:
    """Synced plays an imported export already holds become one play (source 'both').

    The rules of docs/merge.md, applied in the other direction (sync after import):
    - extended history: a stored export play of the same track ending within `tolerance_ms` (its
      `ts` is the end cut to the second);
    - account data (name-based track id, end to the minute): a stored play whose track has the same
      normalised name, whose main artist is one of the synced track's artists (`names`: track id ->
      (name, artist names), both normalised), ending in the same minute or the one before or after.
    - an offline play moved to its real end (`reported_at` set): also an API play of the same track
      up to `pause_ms` later (a pause counts in the API's end), never after it was reported.
    The stored play takes the API's exact instant and real track id and keeps the export's measured
    ms_played. Name-based tracks left without plays are deleted. Returns how many plays merged; the
    caller's insert then skips them.
    """
    if not rows:
        return 0
    window = timedelta(milliseconds=tolerance_ms)
    reach = max(window, 2 * MINUTE, timedelta(milliseconds=pause_ms))
    low = min(r["played_at"] for r in rows) - reach
    high = max(r["played_at"] for r in rows) + reach
    main = track_artists.alias("main")
    candidates = conn.execute(
        select(
            plays.c.id,
            plays.c.track_id,
            plays.c.played_at,
            plays.c.reported_at,
            tracks.c.name,
            artists.c.name.label("artist"),
        )
        .join(tracks, tracks.c.id == plays.c.track_id)
        .outerjoin(main, (main.c.track_id == tracks.c.id) & (main.c.position == 0))
        .outerjoin(artists, artists.c.id == main.c.artist_id)
        .where(
            plays.c.user_id == user_id,
            plays.c.source == "export",
            plays.c.played_at >= low,
            plays.c.played_at <= high,
        )
    ).all()
    if not candidates:
        return 0
    names = names or {}
    # A synced play already stored (a racing sync) must not be merged into a second one.
    exact = {
        (at, tid)
        for at, tid in conn.execute(
            select(plays.c.played_at, plays.c.track_id).where(
                plays.c.user_id == user_id, plays.c.played_at >= low, plays.c.played_at <= high
            )
        ).all()
    }
    pairs: list[tuple[int, float, int, int]] = []
    for i, r in enumerate(rows):
        if (r["played_at"], r["track_id"]) in exact:
            continue
        want = names.get(r["track_id"])
        api_minute = _minute(r["played_at"])
        for c in candidates:
            delta = abs((c.played_at - r["played_at"]).total_seconds())
            if c.track_id == r["track_id"] and (
                delta * 1000 < tolerance_ms
                or (
                    c.reported_at is not None
                    and c.played_at
                    <= r["played_at"]
                    < min(c.reported_at, c.played_at + timedelta(milliseconds=pause_ms)) + window
                )
            ):
                pairs.append((0, delta, c.id, i))
            elif (
                c.track_id.startswith(PREFIX)
                and want is not None
                and normalise(c.name) == want[0]
                and (c.artist is None or normalise(c.artist) in want[1])
                and abs(_minute(c.played_at) - api_minute) <= 1
            ):
                # Prefer the account-data row of the API play's own minute.
                pairs.append((1 + (_minute(c.played_at) != api_minute), delta, c.id, i))
    pairs.sort()
    used_plays: set[int] = set()
    used_rows: set[int] = set()
    emptied: set[str] = set()
    by_id = {c.id: c for c in candidates}
    for _rank, _delta, play_id, index in pairs:  # best first, each side at most once
        if play_id in used_plays or index in used_rows:
            continue
        used_plays.add(play_id)
        used_rows.add(index)
        row = rows[index]
        if by_id[play_id].track_id != row["track_id"]:
            emptied.add(by_id[play_id].track_id)
        conn.execute(
            update(plays)
            .where(plays.c.id == play_id)
            .values(
                played_at=row["played_at"],
                track_id=row["track_id"],
                source="both",
                context_type=row.get("context_type"),
                context_uri=row.get("context_uri"),
            )
        )
    for track_id in sorted(emptied):
        if conn.execute(select(exists().where(plays.c.track_id == track_id))).scalar():
            continue
        album_id = conn.execute(select(tracks.c.album_id).where(tracks.c.id == track_id)).scalar_one_or_none()
        old_artists = replace_positions(conn, track_artists, "track_id", {track_id: []})
        conn.execute(delete(tracks).where(tracks.c.id == track_id))
        delete_orphans(conn, [album_id] if album_id else [], old_artists)
    return len(used_rows)


def _minute(value: datetime) -> int:
    return int(value.timestamp() // 60)
