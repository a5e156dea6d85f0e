"""Wrapped's 2025-and-after cards: obsession, rediscovery, forgotten favourite, new albums, listening age.

Each works for any period and on both databases; the sums are SQL over the period's materialised
tables (brapped.insights.wrapped), the Python here only shapes a handful of rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, FromClause, Select, case, func, select, union_all

from brapped.insights import rollups
from brapped.insights.aggregates import album_credits, per_artist, per_track, track_credits
from brapped.insights.period import Period, day_to_date, int_literal
from brapped.insights.scope import Scope, by_codepoint, minutes, ratio
from brapped.insights.top import credit_value, doubled_credit
from brapped.store.tables import albums, artist_totals, artists, plays, track_artists, tracks
from brapped.store.types import epoch_ms

OBSESSION_DAYS = 7
# An artist is rediscovered when this long passed without any play of theirs before their first
# play of the period (half a year: longer than a season's rotation, shorter than a year's gap).
REDISCOVERY_SILENCE = timedelta(days=180)
# A forgotten favourite was among this many top artists (by credit) of everything before the period.
FORMER_TOP = 10
LISTENING_WINDOW_YEARS = 5
# A window must hold at least this share of the period's dated plays to be "your" years: a few
# plays of a rare decade over-index hugely and say little.
LISTENING_WINDOW_MIN_SHARE = 0.1
# Spotify's assumption: the music you over-index on is what you heard at 16 to 21.
LISTENING_AGE_AT_WINDOW_START = 16


def _track(conn: Connection, track_id: str) -> dict[str, Any]:
    name = conn.execute(select(tracks.c.name).where(tracks.c.id == track_id)).scalar_one()
    return {"id": track_id, "name": name, "artists": track_credits(conn, [track_id])[track_id]}


def obsession(conn: Connection, period: Period, dt: FromClause) -> dict[str, Any] | None:
    """The track played most within 7 consecutive local days (more minutes, then the earlier
    window, on a tie). `dt`: the period's per-day-and-track sums, materialised.

    A best window can always start on a day the track was played: each (day, track) row sums
    the same track's rows of that day and the 6 after it, a window frame by day (one sort; a
    self-join paired every day of a much-played track with every other).
    """
    week = (0, OBSESSION_DAYS - 1)
    windows = select(
        dt.c.day,
        dt.c.track_id,
        func.sum(dt.c.plays).over(partition_by=dt.c.track_id, order_by=dt.c.day, range_=week).label("plays"),
        func.sum(dt.c.ms_played)
        .over(partition_by=dt.c.track_id, order_by=dt.c.day, range_=week)
        .label("ms_played"),
    ).subquery("windows")
    row = conn.execute(
        select(windows)
        .order_by(
            windows.c.plays.desc(),
            windows.c.ms_played.desc(),
            windows.c.day,
            by_codepoint(windows.c.track_id),
        )
        .limit(1)
    ).first()
    if row is None:
        return None
    start = day_to_date(int(row.day))
    return {
        "track": _track(conn, row.track_id),
        "plays": int(row.plays),
        "minutes": minutes(row.ms_played),
        "start": start.isoformat(),
        "end": min(start + timedelta(days=OBSESSION_DAYS - 1), period.end).isoformat(),
    }


def rediscovery(
    conn: Connection, scope: Scope, period: Period, pp: FromClause, pa: FromClause
) -> dict[str, Any] | None:
    """The artist back after a long silence: the first by credit (then streams) of the artists
    whose first play of the period came at least REDISCOVERY_SILENCE after their last
    play before it. None when no artist qualifies (or the period starts at the dawn of time).

    `pp`, `pa`: the period's plays and per-artist sums, materialised.
    """
    if scope.start is None:
        return None
    # Each artist's first play of the period: per track first (one pass), then per credit.
    firsts = (
        select(pp.c.track_id, func.min(pp.c.end_ms).label("first_ms"))
        .group_by(pp.c.track_id)
        .subquery("firsts")
    )
    first_per_artist = (
        select(track_artists.c.artist_id, func.min(firsts.c.first_ms).label("first_ms"))
        .select_from(firsts.join(track_artists, track_artists.c.track_id == firsts.c.track_id))
        .group_by(track_artists.c.artist_id)
        .subquery("first_per_artist")
    )
    # Each artist's last play before it: per track of theirs, one probe of the (track_id,
    # played_at) index for the latest earlier play (a join would read every earlier play).
    credit, earlier = track_artists.alias("credit"), plays.alias("earlier")
    conditions = [earlier.c.track_id == credit.c.track_id, earlier.c.played_at < scope.start]
    if scope.user_id is not None:
        # `|| ''`: keep SQLite on the (track_id, played_at) index (see totals.new_artists).
        conditions.append(earlier.c.user_id.concat("") == scope.user_id)
    # The latest as "ORDER BY ... DESC LIMIT 1", not max(): PostgreSQL then walks the index backwards
    # and stops at the account's first play, where max() read all the track's earlier plays of every
    # account (a household's shared catalogue: 24 s of a 5-listener Wrapped).
    track_last = (
        select(earlier.c.played_at)
        .where(*conditions)
        .order_by(earlier.c.played_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    last_per_artist = (
        select(credit.c.artist_id, func.max(track_last).label("last_at"))
        .where(credit.c.artist_id.in_(select(pa.c.artist_id)))
        .group_by(credit.c.artist_id)
        .subquery("last_per_artist")
    )
    candidates = (
        select(
            pa.c.artist_id,
            pa.c.name,
            pa.c.plays,
            pa.c.streams,
            pa.c.main_streams,
            first_per_artist.c.first_ms,
            epoch_ms(last_per_artist.c.last_at).label("last_ms"),
        )
        .select_from(
            pa.join(first_per_artist, first_per_artist.c.artist_id == pa.c.artist_id).join(
                last_per_artist, last_per_artist.c.artist_id == pa.c.artist_id
            )
        )
        .subquery("candidates")
    )
    silence = candidates.c.first_ms - candidates.c.last_ms
    silence_ms = int(REDISCOVERY_SILENCE.total_seconds() * 1000)
    rows = conn.execute(
        select(candidates)
        .where(candidates.c.last_ms.is_not(None), silence >= int_literal(silence_ms))
        .order_by(
            doubled_credit(candidates.c.streams, candidates.c.main_streams).desc(),
            candidates.c.streams.desc(),
            candidates.c.plays.desc(),
            silence.desc(),
            by_codepoint(candidates.c.artist_id),
        )
    ).all()
    if not rows:
        return None
    best = rows[0]
    tz = period.tz
    last = datetime.fromtimestamp(int(best.last_ms) / 1000, UTC)
    back = datetime.fromtimestamp(int(best.first_ms) / 1000, UTC)
    return {
        "artist": {"id": best.artist_id, "name": best.name},
        "last_played_before": last.astimezone(tz).date().isoformat(),
        "back_on": back.astimezone(tz).date().isoformat(),
        "days_silent": (int(best.first_ms) - int(best.last_ms)) // 86_400_000,
        "plays": int(best.plays),
        "streams": int(best.streams or 0),
        "credit": credit_value(best.streams, best.main_streams),
        "rediscovered_artists": len(rows),
    }


def former_top_artists(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """The FORMER_TOP artists by credit of every play before `scope` starts (same account and
    stream threshold): what `forgotten_favourite` picks from. Needs nothing but committed plays,
    so Wrapped computes it on a second connection meanwhile (`scope.alongside`)."""
    if scope.start is None:
        return []
    pa = _before(conn, scope).subquery("before_artist")
    rows = conn.execute(
        select(pa.c.artist_id, artists.c.name, pa.c.plays, pa.c.streams, pa.c.main_streams)
        .select_from(pa.join(artists, artists.c.id == pa.c.artist_id))
        .where(pa.c.plays > 0)
        .order_by(
            doubled_credit(pa.c.streams, pa.c.main_streams).desc(),
            pa.c.streams.desc(),
            pa.c.plays.desc(),
            pa.c.ms_played.desc(),
            by_codepoint(artists.c.name),
            by_codepoint(pa.c.artist_id),
        )
        .limit(FORMER_TOP)
    ).all()
    return [
        {
            "rank": rank,
            "id": r.artist_id,
            "name": r.name,
            "plays": int(r.plays),
            "streams": int(r.streams or 0),
            "credit": credit_value(r.streams, r.main_streams),
        }
        for rank, r in enumerate(rows, 1)
    ]


FORMER_SUMS = ("plays", "streams", "main_streams", "ms_played")


def _before(conn: Connection, scope: Scope) -> Select[Any]:
    """Per-artist sums (`artist_id` and FORMER_SUMS) of every play of the scope's account(s)
    before `scope.start`.

    When the stored summaries (brapped.insights.rollups) end after that instant and the plays
    between it and their cutoff are fewer than those before it (this year's Wrapped, after years
    of history): the stored per-artist sums less the sums of those plays. Otherwise every earlier
    play, summed per track then per artist.
    """
    assert scope.start is not None
    found = rollups.usable(conn, scope.stream_threshold_ms)
    if (
        found is None
        or found.first_played_at is None
        or found.cutoff < scope.start
        or found.cutoff - scope.start >= scope.start - found.first_played_at
    ):
        before = Scope(scope.user_id, None, scope.start, scope.stream_threshold_ms)
        pa = per_artist(per_track(before).subquery("before_track")).subquery("before_all")
        return select(pa.c.artist_id, *(pa.c[c] for c in FORMER_SUMS))
    between = Scope(scope.user_id, scope.start, found.cutoff, scope.stream_threshold_ms)
    since = per_artist(per_track(between).subquery("between_track")).subquery("between")
    stored = select(artist_totals.c.artist_id, *(artist_totals.c[c] for c in FORMER_SUMS))
    if scope.user_id is not None:
        stored = stored.where(artist_totals.c.user_id == scope.user_id)
    less = select(since.c.artist_id, *(-since.c[c] for c in FORMER_SUMS))
    both = union_all(stored, less).subquery("both")
    return select(
        both.c.artist_id.label("artist_id"), *(func.sum(both.c[c]).label(c) for c in FORMER_SUMS)
    ).group_by(both.c.artist_id)


def forgotten_favourite(
    conn: Connection, scope: Scope, period: Period, former: list[dict[str, Any]], pa: FromClause
) -> dict[str, Any] | None:
    """The highest of the former top artists (`former_top_artists`) with no play in the period.

    `pa`: the period's per-artist sums, materialised.
    """
    if not former:
        return None
    ids = [a["id"] for a in former]
    present = set(conn.execute(select(pa.c.artist_id).where(pa.c.artist_id.in_(ids))).scalars())
    missing = [a for a in former if a["id"] not in present]
    if not missing:
        return None
    best = missing[0]
    assert scope.start is not None
    last_query = (
        select(func.max(plays.c.played_at))
        .select_from(plays.join(track_artists, track_artists.c.track_id == plays.c.track_id))
        .where(track_artists.c.artist_id == best["id"], plays.c.played_at < scope.start)
    )
    if scope.user_id is not None:
        last_query = last_query.where(plays.c.user_id == scope.user_id)
    last = conn.execute(last_query).scalar_one()
    return {
        "artist": {"id": best["id"], "name": best["name"]},
        "former_rank": best["rank"],
        "plays_before": best["plays"],
        "streams_before": best["streams"],
        "credit_before": best["credit"],
        "last_played": last.astimezone(period.tz).date().isoformat() if last is not None else None,
    }


def _padded_release(column: Any) -> Any:
    """A release date as the first day it may be ('2025' -> '2025-01-01', '2025-03' -> '2025-03-01')."""
    length = func.length(column)
    return case((length == 4, column + "-01-01"), (length == 7, column + "-01"), else_=column)


def top_new_albums(
    conn: Connection, period: Period, pt: FromClause, *, limit: int = 5
) -> list[dict[str, Any]]:
    """Albums released in the period that were listened to: more than half of their tracks
    (`total_tracks`, as Spotify gives it) streamed in the period; by streams of their tracks.

    A release date known only to the year or month counts from its first day. Albums whose track
    count is unknown (not enriched yet) are left out. `pt`: the period's per-track sums.
    """
    streamed = func.sum(case((pt.c.streams > 0, 1), else_=0))
    per_album_streamed = (
        select(
            tracks.c.album_id,
            streamed.label("tracks_streamed"),
            func.sum(pt.c.plays).label("plays"),
            func.sum(pt.c.streams).label("streams"),
            func.sum(pt.c.ms_played).label("ms_played"),
        )
        .select_from(pt.join(tracks, tracks.c.id == pt.c.track_id))
        .where(tracks.c.album_id.is_not(None))
        .group_by(tracks.c.album_id)
        .subquery("album_streams")
    )
    s = per_album_streamed
    released = _padded_release(albums.c.release_date)
    rows = conn.execute(
        select(
            albums.c.id,
            albums.c.name,
            albums.c.release_date,
            albums.c.total_tracks,
            s.c.tracks_streamed,
            s.c.plays,
            s.c.streams,
            s.c.ms_played,
        )
        .select_from(s.join(albums, albums.c.id == s.c.album_id))
        .where(
            albums.c.release_date.is_not(None),
            albums.c.total_tracks.is_not(None),
            by_codepoint(released) >= period.start.isoformat(),
            by_codepoint(released) <= period.end.isoformat(),
            s.c.tracks_streamed * 2 > albums.c.total_tracks,
        )
        .order_by(
            s.c.streams.desc(),
            s.c.plays.desc(),
            s.c.ms_played.desc(),
            by_codepoint(albums.c.name),
            by_codepoint(albums.c.id),
        )
        .limit(limit)
    ).all()
    credits = album_credits(conn, (r.id for r in rows))
    return [
        {
            "rank": rank,
            "id": r.id,
            "name": r.name,
            "artists": credits[r.id],
            "release_date": r.release_date,
            "total_tracks": int(r.total_tracks),
            "tracks_streamed": int(r.tracks_streamed),
            "plays": int(r.plays),
            "streams": int(r.streams or 0),
            "minutes": minutes(r.ms_played),
        }
        for rank, r in enumerate(rows, 1)
    ]


def _release_year(column: Any) -> Any:
    return func.substr(column, 1, 4)


def _per_year(conn: Connection, query: Select[Any]) -> list[tuple[int, int]]:
    return [(int(y), int(n)) for y, n in conn.execute(query).all() if str(y).isdigit()]


def listening_age(conn: Connection, scope: Scope, period: Period, pal: FromClause) -> dict[str, Any]:
    """Median release year of the period's plays, and the 5-year window of release years they
    over-index on against the listener's own tracks; the age that window implies.

    Spotify compares a listener with peers of their age; brapped has no peer data. Its baseline
    is every track of a dated album the scope's account(s) played up to the period's end, each
    once however often: the breadth of what they know, against which the period's replays
    stand out. (Not the whole catalogue: it grows with every sync, and a kept Wrapped of a
    closed period must stay what a fresh one computes.) A window's index is its share of the
    period's dated plays over its share of those tracks; the highest index among windows with at
    least LISTENING_WINDOW_MIN_SHARE of the plays wins (then the larger share, then the window
    centred on its plays, then the earlier). As Spotify does, the listener
    is taken to have been 16 to 21 in that window: born `window.start - 16`.

    `pal`: the period's per-album sums (`per_album`), materialised. Each play one vote; plays of
    undated albums are skipped.
    """
    year = _release_year(albums.c.release_date)
    dated = [albums.c.release_date.is_not(None), func.length(albums.c.release_date) >= 4]
    counted = _per_year(
        conn,
        select(year.label("year"), func.sum(pal.c.plays))
        .select_from(pal.join(albums, albums.c.id == pal.c.album_id))
        .where(*dated)
        .group_by(year)
        .order_by(year),
    )
    played = [plays.c.track_id == tracks.c.id, plays.c.played_at < period.end_utc]
    if scope.user_id is not None:
        played.append(plays.c.user_id == scope.user_id)
    # One probe of the (track_id, played_at) index per dated track.
    heard = select(plays.c.id).where(*played).exists()
    baseline = dict(
        _per_year(
            conn,
            select(year.label("year"), func.count())
            .select_from(tracks.join(albums, albums.c.id == tracks.c.album_id))
            .where(*dated, heard)
            .group_by(year),
        )
    )
    total = sum(n for _, n in counted)
    baseline_total = sum(baseline.values())
    result: dict[str, Any] = {
        "median_release_year": weighted_median(counted),
        "plays_with_release_year": total,
        "compared_with": "played_tracks",
        "baseline_tracks_with_release_year": baseline_total,
        "window": None,
        "age": None,
        "born_around": None,
    }
    if not total or not baseline_total:
        return result
    plays_by_year = dict(counted)
    best: tuple[float, float, float, int] | None = None  # (index, share, -off centre, -start)
    for start in range(min(plays_by_year) - LISTENING_WINDOW_YEARS + 1, max(plays_by_year) + 1):
        years = range(start, start + LISTENING_WINDOW_YEARS)
        inside = sum(plays_by_year.get(y, 0) for y in years)
        base = sum(baseline.get(y, 0) for y in years) / baseline_total
        share = inside / total
        if share < LISTENING_WINDOW_MIN_SHARE or base == 0:
            continue
        # Equal windows (the same years with plays in them): the one centred on those plays.
        mean = sum(y * plays_by_year.get(y, 0) for y in years) / inside
        off_centre = abs(start + (LISTENING_WINDOW_YEARS - 1) / 2 - mean)
        candidate = (round(share / base, 9), share, -off_centre, -start)
        if best is None or candidate > best:
            best = candidate
    if best is None:
        return result
    index, share, start = best[0], best[1], -best[3]
    born = start - LISTENING_AGE_AT_WINDOW_START
    result.update(
        window={
            "start": start,
            "end": start + LISTENING_WINDOW_YEARS - 1,
            "share": round(share, 4),
            "baseline_share": ratio(
                sum(baseline.get(y, 0) for y in range(start, start + LISTENING_WINDOW_YEARS)), baseline_total
            ),
            "index": round(index, 4),
        },
        born_around=born,
        age=period.end.year - born,
    )
    return result


def weighted_median(values: list[tuple[int, int]]) -> float | None:
    """Median of sorted (value, count) pairs: the middle value, or the mean of the two middle ones."""
    total = sum(n for _, n in values)
    if total == 0:
        return None

    def nth(k: int) -> int:  # 0-based k-th value of the expanded list
        seen = 0
        for value, n in values:
            seen += n
            if k < seen:
                return value
        raise AssertionError("k out of range")

    if total % 2:
        return float(nth(total // 2))
    return (nth(total // 2 - 1) + nth(total // 2)) / 2
