"""What each dashboard page shows, taken from `brapped.insights` (the numbers the CLI prints).

Nothing here counts plays: it calls the insights functions with the page's period and settings,
and only rearranges their results for charts (per-day and per-hour sums of the insights grid).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select

from brapped.insights.daily import day_report
from brapped.insights.period import Period, day_to_date
from brapped.insights.scope import Scope, minutes
from brapped.insights.summary import day_hour_grid, first_play_at, totals
from brapped.insights.top import top_albums, top_artists, top_genres, top_tracks
from brapped.store.tables import albums, artists
from brapped.web.picker import Picked

TOP_SHOWN = 10
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def period_of(conn: Connection, picked: Picked, timezone: str) -> Period:
    """The picker's choice as an insights Period; "all time" starts on the day of the first play."""
    start = picked.start
    if start is None:
        first = first_play_at(conn, None)
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


def overview(conn: Connection, period: Period, stream_threshold_ms: int) -> dict[str, Any]:
    """Totals, minutes per day, the listening clock and the top lists of a period."""
    scope = Scope.of(period, None, stream_threshold_ms)
    grid = day_hour_grid(conn, scope, period)
    per_day: dict[date, int] = defaultdict(int)
    clock: dict[tuple[int, int], int] = defaultdict(int)
    for cell in grid:
        day = day_to_date(cell.day)
        per_day[day] += cell.ms_played
        clock[(day.weekday(), cell.hour)] += cell.ms_played
    days = [
        {
            "date": (period.start + timedelta(days=i)),
            "minutes": minutes(per_day.get(period.start + timedelta(days=i))),
        }
        for i in range(period.days)
    ]
    return {
        "period": period.as_dict(),
        **totals(conn, scope),
        "days": days,
        "clock": [
            {"weekday": weekday, "hour": hour, "minutes": minutes(ms)}
            for (weekday, hour), ms in sorted(clock.items())
        ],
        "top_artists": top_artists(conn, scope, limit=TOP_SHOWN),
        "top_tracks": top_tracks(conn, scope, limit=TOP_SHOWN),
        "top_albums": top_albums(conn, scope, limit=TOP_SHOWN),
        "top_genres": top_genres(conn, scope, limit=TOP_SHOWN),
    }


def day(conn: Connection, when: date, timezone: str, stream_threshold_ms: int) -> dict[str, Any]:
    """The daily report, exactly as `brapped report day --format json` gives it."""
    return day_report(conn, when, timezone, stream_threshold_ms=stream_threshold_ms)
