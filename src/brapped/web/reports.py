"""What each dashboard page shows, taken from `brapped.insights` (the numbers the CLI prints).

Nothing here counts plays: it calls the insights functions with the page's period and settings,
and only rearranges their results for charts (per-day and per-hour sums of the insights grid).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from brapped.insights import (
    By,
    Kind,
    NotFound,
    Period,
    Scope,
    album_credits,
    artist_story,
    compare,
    date_to_day,
    day_report,
    day_to_date,
    first_play_at,
    fold,
    kept_wrapped,
    listeners,
    minutes,
    party,
    per_track_of,
    search,
    top,
    track_query,
    track_rows,
    track_story,
)
from brapped.insights import overview as insights_overview
from brapped.store.tables import albums, artists, tracks
from brapped.web.picker import Picked

TOP_SHOWN = 10


def period_of(conn: Connection, picked: Picked, timezone: str, user_id: str | None = None) -> Period:
    """The picker's choice as an insights Period; "all time" starts on the day of the first play."""
    start = picked.start
    if start is None:
        first = first_play_at(conn, user_id)
        start = first.astimezone(Period.day(picked.end, timezone).tz).date() if first else picked.end
        start = min(start, picked.end)
    return Period(start, picked.end, timezone)


def images(conn: Connection, artist_ids: list[str], album_ids: list[str]) -> dict[str, str]:
    """Cover and photo URLs by artist or album id (only those Spotify gave us)."""
    found: dict[str, str] = {}
    for table, ids in ((artists, artist_ids), (albums, album_ids)):
        wanted = [i for i in dict.fromkeys(ids) if i]
        if not wanted:
            continue
        rows = conn.execute(
            select(table.c.id, table.c.image_url).where(
                table.c.id.in_(wanted), table.c.image_url.is_not(None)
            )
        )
        found.update({row.id: row.image_url for row in rows})
    return found


def attach_images(conn: Connection, data: dict[str, Any]) -> dict[str, str]:
    """Image URLs for every artist, track (its album) and album listed under the usual keys."""
    artist_ids: list[str] = []
    album_ids: list[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            if "id" in value and isinstance(value["id"], str):
                if "artist" in key:
                    artist_ids.append(value["id"])
                elif "album" in key:
                    album_ids.append(value["id"])
            album = value.get("album")
            if isinstance(album, dict) and isinstance(album.get("id"), str):
                album_ids.append(album["id"])
            for child_key, child in value.items():
                walk(child, child_key if isinstance(child, (list, dict)) else key)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)

    walk(data)
    return images(conn, artist_ids, album_ids)


def overview(
    conn: Connection, period: Period, stream_threshold_ms: int, user_id: str | None = None
) -> dict[str, Any]:
    """Totals, minutes per day, the listening clock and the top lists of a period."""
    summary, per_day, clock = insights_overview(
        conn, period, user_id=user_id, stream_threshold_ms=stream_threshold_ms, limit=TOP_SHOWN
    )
    first = date_to_day(period.start)
    days = [
        {"date": day_to_date(first + i), "minutes": minutes(per_day.get(first + i, 0))}
        for i in range(period.days)
    ]
    return {
        "period": period.as_dict(),
        **{k: v for k, v in summary.items() if not k.startswith("top_")},
        "days": days,
        "listening_clock": clock,
        **{k: v for k, v in summary.items() if k.startswith("top_")},
    }


def day(
    conn: Connection, when: date, timezone: str, stream_threshold_ms: int, user_id: str | None = None
) -> dict[str, Any]:
    """The daily report, exactly as `brapped report day --format json` gives it."""
    return day_report(conn, when, timezone, user_id=user_id, stream_threshold_ms=stream_threshold_ms)


def top_document(
    conn: Connection,
    kind: Kind,
    period: Period | None,
    by: By,
    limit: int,
    stream_threshold_ms: int,
    user_id: str | None = None,
) -> dict[str, Any]:
    """A top list as `brapped report top KIND --format json` prints it (period None: all time)."""
    scope = Scope.of(period, user_id, stream_threshold_ms)
    rows = top(conn, kind, scope, by=by, limit=limit)
    return {"kind": kind, "by": by, "period": period.as_dict() if period else None, "items": rows}


def wrapped_report(
    conn: Connection,
    period: Period,
    stream_threshold_ms: int,
    session_gap_minutes: int,
    limit: int = 100,
    user_id: str | None = None,
) -> dict[str, Any]:
    """Wrapped, as `brapped report wrapped --format json` gives it (kept for closed periods)."""
    return kept_wrapped(
        conn,
        period,
        user_id=user_id,
        stream_threshold_ms=stream_threshold_ms,
        session_gap_minutes=session_gap_minutes,
        limit=limit,
    )


def search_results(
    conn: Connection, query: str, limit: int = 10, user_id: str | None = None
) -> dict[str, Any]:
    """Search results as `brapped search --format json` gives them; nothing for a blank query.

    `conn` must be in a transaction that may write (insights refreshes its folded-name table).
    """
    if not fold(query):
        return {"query": query, "tracks": [], "artists": [], "albums": []}
    return search(conn, query, user_id=user_id, limit=limit)


def artist(
    conn: Connection, artist_id: str, timezone: str, stream_threshold_ms: int, user_id: str | None = None
) -> dict[str, Any]:
    """The artist story (all time), as `brapped artist ID --format json` gives it."""
    return artist_story(conn, artist_id, timezone, user_id=user_id, stream_threshold_ms=stream_threshold_ms)


def track(
    conn: Connection, track_id: str, timezone: str, stream_threshold_ms: int, user_id: str | None = None
) -> dict[str, Any]:
    """The track story (all time), as `brapped track ID --format json` gives it."""
    return track_story(conn, track_id, timezone, user_id=user_id, stream_threshold_ms=stream_threshold_ms)


def album(
    conn: Connection, album_id: str, stream_threshold_ms: int, user_id: str | None = None
) -> dict[str, Any]:
    """An album (all time): its details and its tracks' statistics.

    insights has no album story; each track row is insights' own track statistic (`per_track`,
    `track_query`, `track_rows`) limited to the album, and the album's totals are the sums of those rows.
    """
    info = conn.execute(
        select(albums.c.id, albums.c.name, albums.c.release_date, albums.c.image_url, albums.c.label).where(
            albums.c.id == album_id
        )
    ).first()
    if info is None:
        raise NotFound(f"no album with id {album_id!r}")
    scope = Scope(user_id=user_id, stream_threshold_ms=stream_threshold_ms)
    # insights' per-track sums, for the album's tracks only (the plays.track_id index does the work).
    album_tracks = select(tracks.c.id).where(tracks.c.album_id == album_id)
    source = per_track_of(conn, scope, album_tracks).subquery("per_track")
    sub = track_query(scope, source).subquery()
    rows = [
        r._mapping
        for r in conn.execute(
            select(sub).order_by(sub.c.plays.desc(), sub.c.ms_played.desc(), sub.c.name, sub.c.id)
        )
    ]
    if not rows:
        raise NotFound(f"you never played {info.name!r}")
    track_list = track_rows(conn, rows)
    return {
        "album": {
            "id": info.id,
            "name": info.name,
            "release_date": info.release_date,
            "label": info.label,
            "image_url": info.image_url,
            "artists": album_credits(conn, [album_id])[album_id],
        },
        "plays": sum(t["plays"] for t in track_list),
        "streams": sum(t["streams"] for t in track_list),
        "ms_played": sum(t["ms_played"] for t in track_list),
        "minutes": minutes(sum(t["ms_played"] for t in track_list)),
        "tracks": track_list,
    }


def household(conn: Connection) -> list[dict[str, Any]]:
    """Every listener (`id`, `display_name`, `account`), for the user picker."""
    return listeners(conn)


def compare_report(conn: Connection, user_a: str, user_b: str, period: Period | None) -> dict[str, Any]:
    """Two listeners compared, as `brapped compare A B --format json` gives it."""
    return compare(conn, user_a, user_b, period)


def party_report(
    conn: Connection,
    period: Period,
    users: tuple[str, ...],
    stream_threshold_ms: int,
    session_gap_minutes: int,
) -> dict[str, Any]:
    """The Wrapped party, as `brapped report party --format json` gives it."""
    return party(
        conn,
        period,
        user_ids=list(users) or None,
        stream_threshold_ms=stream_threshold_ms,
        session_gap_minutes=session_gap_minutes,
    )
