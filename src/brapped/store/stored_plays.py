"""The plays an import compares a file with: stored plays near a period, and the changes the merge
rules make to them (`brapped.pipeline.import_decide` turns the rows into the rules' terms)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    or_,
    select,
    text,
    update,
)

from brapped import identity
from brapped.store.load import delete_orphans
from brapped.store.tables import artists, episode_plays, episodes, plays, track_artists, tracks


def music_plays_between(
    conn: Connection, user_id: str, start: datetime, end: datetime
) -> Sequence[Row[int, datetime, str, str, int | None, str | None, str, datetime | None, bool]]:
    """The user's music plays ending in [start, end]: (id, played_at, track_id, source, ms_played,
    ms_played_source, track name, reported_at, whether it has export fields) each."""
    return conn.execute(_MUSIC_BETWEEN, {"user_id": user_id, "start": start, "end": end}).all()


def artist_names(conn: Connection, track_ids: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(track id, artist name) of each credit of the tracks, asked 500 tracks at a time."""
    ordered = sorted(track_ids)
    for chunk_start in range(0, len(ordered), 500):
        chunk = ordered[chunk_start : chunk_start + 500]
        yield from conn.execute(
            select(track_artists.c.track_id, artists.c.name)
            .join(artists, artists.c.id == track_artists.c.artist_id)
            .where(track_artists.c.track_id.in_(chunk))
        )


def export_keys(conn: Connection, user_id: str, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
    """The user's export or merged music plays ending in [start, end]: (stored end text, track) → id.

    The end is the stored text form (`YYYY-MM-DD HH:MM:SS.fff`, UTC) imported rows carry, so a
    re-imported play is found by one dictionary lookup.
    """
    if conn.dialect.name == "postgresql":
        ended = "to_char(played_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')"
    else:
        ended = "played_at"
    statement = text(
        f"SELECT {ended}, track_id, id FROM plays WHERE user_id = :user_id "
        f"AND played_at BETWEEN :start AND :end AND source IN ('export', 'both')"
    ).bindparams(
        bindparam("start", type_=plays.c.played_at.type), bindparam("end", type_=plays.c.played_at.type)
    )
    result = conn.execute(statement, {"user_id": user_id, "start": start, "end": end})
    return {(ended_at, track_id): int(play_id) for ended_at, track_id, play_id in result}


def episode_plays_between(
    conn: Connection, user_id: str, start: datetime, end: datetime
) -> Sequence[Row[int, datetime, str, str, int | None, str | None, str, str | None]]:
    """The user's episode plays ending in [start, end]: (id, played_at, episode_id, source,
    ms_played, ms_played_source, episode name, show name) each."""
    return conn.execute(_EPISODES_BETWEEN, {"user_id": user_id, "start": start, "end": end}).all()


def _of_user_between(table: Table) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """`table`'s plays of account `:user_id` ending in [`:start`, `:end`] (bound at execution)."""
    when = table.c.played_at
    return (
        table.c.user_id == bindparam("user_id"),
        when.between(bindparam("start", type_=when.type), bindparam("end", type_=when.type)),
    )


# Built once: an import asks each file's neighbours, and building the statement took three times
# as long as running it.
_MUSIC_BETWEEN = (
    select(
        plays.c.id,
        plays.c.played_at,
        plays.c.track_id,
        plays.c.source,
        plays.c.ms_played,
        plays.c.ms_played_source,
        tracks.c.name,
        plays.c.reported_at,
        or_(
            plays.c.platform.is_not(None), plays.c.reason_end.is_not(None), plays.c.conn_country.is_not(None)
        ).label("detailed"),
    )
    .join(tracks, tracks.c.id == plays.c.track_id)
    .where(*_of_user_between(plays))
)
_EPISODES_BETWEEN = (
    select(
        episode_plays.c.id,
        episode_plays.c.played_at,
        episode_plays.c.episode_id,
        episode_plays.c.source,
        episode_plays.c.ms_played,
        episode_plays.c.ms_played_source,
        episodes.c.name,
        episodes.c.show_name,
    )
    .join(episodes, episodes.c.id == episode_plays.c.episode_id)
    .where(*_of_user_between(episode_plays))
)


def update_music(conn: Connection, changes: Sequence[Mapping[str, Any]]) -> set[str]:
    """Apply merges and replacements: each change names `pid` and the columns to set. Returns the
    tracks known by name (`name:` ids) that replaced plays moved away from."""
    moved = _moved_from(conn, plays, "track_id", changes)
    _update(conn, plays, changes)
    return moved


def update_episodes(conn: Connection, changes: Sequence[Mapping[str, Any]]) -> set[str]:
    """`update_music` for episode plays; returns the episodes known by name they moved away from."""
    moved = _moved_from(conn, episode_plays, "episode_id", changes)
    _update(conn, episode_plays, changes)
    return moved


def _moved_from(conn: Connection, table: Table, item: str, changes: Sequence[Mapping[str, Any]]) -> set[str]:
    """The `name:` items the plays `changes` give another `item` hold now."""
    new_items = {c["pid"]: c[item] for c in changes if item in c}
    old: set[str] = set()
    ids = sorted(new_items)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for play_id, held in conn.execute(select(table.c.id, table.c[item]).where(table.c.id.in_(chunk))):
            if held != new_items[play_id] and identity.is_synthetic(held):
                old.add(held)
    return old


def _update(conn: Connection, table: Any, changes: Sequence[Mapping[str, Any]]) -> None:
    # executemany needs one statement shape: group the changes by the columns they set.
    by_shape: dict[tuple[str, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for change in changes:
        by_shape[tuple(sorted(k for k in change if k != "pid"))].append(change)
    for shape, group in by_shape.items():
        statement = (
            update(table)
            .where(and_(table.c.id == bindparam("pid")))
            .values({column: bindparam(f"v_{column}", type_=table.c[column].type) for column in shape})
        )
        conn.execute(
            statement,
            [{"pid": c["pid"], **{f"v_{k}": v for k, v in c.items() if k != "pid"}} for c in group],
        )


def drop_unplayed_by_name(conn: Connection, track_ids: Iterable[str], episode_ids: Iterable[str]) -> int:
    """Delete these tracks and episodes known by name (`update_music` and `update_episodes` give
    them) when no play of anyone refers to them any more, with their credits and the artists by
    name those leave without any: extended history replaced their plays with the real ones. Left
    behind, `enrich --resolve` and MusicBrainz would spend calls on them. Returns how many tracks
    and episodes went. Only the ids given: no range of ids, whose order depends on the collation."""
    gone = 0
    credited: set[str] = set()
    for track_id in sorted(t for t in set(track_ids) if identity.is_synthetic(t)):
        if conn.execute(select(exists().where(plays.c.track_id == track_id))).scalar():
            continue
        credits = track_artists.c.track_id == track_id
        credited.update(conn.execute(select(track_artists.c.artist_id).where(credits)).scalars())
        conn.execute(delete(track_artists).where(credits))
        gone += conn.execute(delete(tracks).where(tracks.c.id == track_id)).rowcount or 0
    delete_orphans(conn, (), credited)
    for episode_id in sorted(e for e in set(episode_ids) if identity.is_synthetic(e)):
        if conn.execute(select(exists().where(episode_plays.c.episode_id == episode_id))).scalar():
            continue
        gone += conn.execute(delete(episodes).where(episodes.c.id == episode_id)).rowcount or 0
    return gone
