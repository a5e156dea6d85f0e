"""The overview of a period (the dashboard's first page): totals, the day x hour grid, top lists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from brapped.insights.aggregates import per_album, per_artist
from brapped.insights.period import Period
from brapped.insights.rollups import covering, days_and_clock, per_track_table
from brapped.insights.scope import Scope, alongside, materialized
from brapped.insights.top import (
    per_album_of,
    per_artist_of,
    top_albums,
    top_artists_from,
    top_countries,
    top_genres,
    top_tracks,
)
from brapped.insights.totals import totals


def overview(
    conn: Connection,
    period: Period,
    *,
    user_id: str | None = None,
    stream_threshold_ms: int = 30_000,
    limit: int = 10,
) -> tuple[dict[str, Any], dict[int, int], dict[str, Any]]:
    """Totals and top `limit` artists, tracks, albums and genres of `period`; then milliseconds per
    local day and the listening clock (`rollups.days_and_clock`).

    The same numbers as `totals`, `day_hour_grid` and the `top_*` functions, computed the way
    Wrapped does: small per-track, per-artist and per-album sums, each made once and shared (each
    function on its own reads every play of the period again). Over all time they come from the
    stored summaries
    (`brapped.insights.rollups`). Meanwhile a second connection sums the days and the clock
    (`alongside`).
    """
    scope = Scope.of(period, user_id, stream_threshold_ms)
    calendar_later = alongside(conn, lambda other: days_and_clock(other, scope, period))
    covered = covering(conn, scope) is not None
    with (
        per_track_table(conn, scope) as pt,
        # All time: from the stored per-artist and per-album sums, not ~50,000 tracks' credits.
        materialized(conn, per_artist_of(conn, scope) if covered else per_artist(pt)) as pa,
        materialized(conn, per_album_of(conn, scope) if covered else per_album(pt)) as pal,
    ):
        report = {
            **totals(conn, scope, source=pt, artist_source=pa, album_source=pal),
            "top_artists": top_artists_from(conn, pa, limit=limit),
            "top_tracks": top_tracks(conn, scope, limit=limit, source=pt),
            "top_albums": top_albums(conn, scope, limit=limit, album_source=pal),
            "top_genres": top_genres(conn, scope, limit=limit, artist_source=pa),
            "top_countries": top_countries(conn, scope, limit=limit, artist_source=pa),
        }
    return (report, *calendar_later())
