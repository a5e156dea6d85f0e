"""Wrapped's 2025-and-after cards: obsession, rediscovery, forgotten favourite, new albums, listening age.

Each works for any period and on both databases; the sums are SQL over the period's materialised
tables (brapped.insights.wrapped), the Python here only shapes a handful of rows. The cards about
the past (and Wrapped's new artists) share the per-artist sums of the plays before the period
(brapped.insights.earlier): built from the stored summaries (brapped.insights.rollups) and the few
plays between their cutoff and the period, not from a heavy listener's whole history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, FromClause, Select, case, func, or_, select

from brapped.insights.aggregates import OPEN_END, album_credits, track_credits
from brapped.insights.earlier import earlier_per_artist, played_before_end
from brapped.insights.period import Period, day_to_date, int_literal
from brapped.insights.scope import Scope, by_codepoint, materialized, minutes, ratio
from brapped.insights.top import credit_value, doubled_credit
from brapped.store.tables import albums, plays, track_artists, tracks
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


def obsession(
    conn: Connection, period: Period, per_day: DayTrackSums, pt: FromClause
) -> dict[str, Any] | None:
    """The track played most within 7 consecutive local days (more minutes, then the earlier
    window, on a tie). `per_day(track_ids)`: the period's per-day-and-track sums of those tracks
    (`day`, `track_id`, `plays`, `ms_played`); `pt`: its per-track sums, materialised, which lets
    only a few tracks be windowed (`_contenders`).

    A best window can always start on a day the track was played: each (day, track) row sums
    the same track's rows of that day and the 6 after it, a window frame by day (one sort; a
    self-join paired every day of a much-played track with every other).
    """
    row = _best_window(conn, per_day(_contenders(conn, per_day, pt)))
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


OBSESSION_PROBE = 10
# Per-day-and-track sums of the tracks a query gives: `day`, `track_id`, `plays`, `ms_played`.
DayTrackSums = Callable[[Select[Any]], FromClause]


def most_played(pt: FromClause, limit: int) -> Select[Any]:
    """The `limit` most played tracks of per-track sums `pt` (by code point on a tie)."""
    return select(pt.c.track_id).order_by(pt.c.plays.desc(), by_codepoint(pt.c.track_id)).limit(limit)


def _contenders(conn: Connection, per_day: DayTrackSums, pt: FromClause) -> Select[Any]:
    """The tracks that may hold the best 7-day window: those played, in the whole period, at
    least as often as the best window of the period's OBSESSION_PROBE most played tracks. No
    other track has a window that good (a window's plays are at most the track's): exact, ties
    included, and a few dozen tracks to window instead of every one."""
    found = _best_window(conn, per_day(most_played(pt, OBSESSION_PROBE)))
    return select(pt.c.track_id).where(pt.c.plays >= (int(found.plays) if found is not None else 0))


def _best_window(conn: Connection, source: FromClause) -> Any:
    """The best (day, track) 7-day window row of per-day-and-track sums `source`, or None."""
    week = (0, OBSESSION_DAYS - 1)
    windows = select(
        source.c.day,
        source.c.track_id,
        func.sum(source.c.plays)
        .over(partition_by=source.c.track_id, order_by=source.c.day, range_=week)
        .label("plays"),
        func.sum(source.c.ms_played)
        .over(partition_by=source.c.track_id, order_by=source.c.day, range_=week)
        .label("ms_played"),
    ).subquery("windows")
    return conn.execute(
        select(windows)
        .order_by(
            windows.c.plays.desc(),
            windows.c.ms_played.desc(),
            windows.c.day,
            by_codepoint(windows.c.track_id),
        )
        .limit(1)
    ).first()


def rediscovery(
    conn: Connection, scope: Scope, period: Period, pa: FromClause, earlier_artists: FromClause
) -> dict[str, Any] | None:
    """The artist back after a long silence: the first by credit (then streams) of the artists
    whose first play of the period came at least REDISCOVERY_SILENCE after their last
    play before it. None when no artist qualifies (or the period starts at the dawn of time).

    `pa`: the period's per-artist sums with each artist's first play (`first_ms`), materialised;
    `earlier_artists`: the per-artist sums of the plays before it (`earlier.earlier_per_artist`),
    materialised.

    An artist played in the REDISCOVERY_SILENCE before the period has its last play there (one
    range of plays); one played before the period but not then was silent longer than that,
    whenever its first play of the period came. Only the best few of those need their last
    play's instant (for the tie on silence, and the card): one index probe per track of theirs.
    """
    if scope.start is None:
        return None
    recent = last_plays_before(scope, REDISCOVERY_SILENCE).subquery("recent")
    candidates = (
        select(
            pa.c.artist_id,
            pa.c.name,
            pa.c.plays,
            pa.c.streams,
            pa.c.main_streams,
            pa.c.first_ms,
            recent.c.last_ms,
        )
        .select_from(
            pa.join(earlier_artists, earlier_artists.c.artist_id == pa.c.artist_id).outerjoin(
                recent, recent.c.artist_id == pa.c.artist_id
            )
        )
        .subquery("candidates")
    )
    silence_ms = int(REDISCOVERY_SILENCE.total_seconds() * 1000)
    silence = candidates.c.first_ms - candidates.c.last_ms
    rows = conn.execute(
        select(candidates).where(or_(candidates.c.last_ms.is_(None), silence >= int_literal(silence_ms)))
    ).all()
    if not rows:
        return None

    def rank(r: Any) -> tuple[int, int, int]:
        streams = int(r.streams or 0)
        return (-(streams + int(r.main_streams or 0)), -streams, -int(r.plays))

    top = min(rank(r) for r in rows)
    tied = [r for r in rows if rank(r) == top]
    last = {r.artist_id: int(r.last_ms) for r in tied if r.last_ms is not None}
    last.update(_last_plays(conn, scope, [r.artist_id for r in tied if r.last_ms is None]))
    best = min(tied, key=lambda r: (last[r.artist_id] - int(r.first_ms), r.artist_id))
    last_ms, first_ms = last[best.artist_id], int(best.first_ms)
    tz = period.tz
    return {
        "artist": {"id": best.artist_id, "name": best.name},
        "last_played_before": datetime.fromtimestamp(last_ms / 1000, UTC).astimezone(tz).date().isoformat(),
        "back_on": datetime.fromtimestamp(first_ms / 1000, UTC).astimezone(tz).date().isoformat(),
        "days_silent": (first_ms - last_ms) // 86_400_000,
        "plays": int(best.plays),
        "streams": int(best.streams or 0),
        "credit": credit_value(best.streams, best.main_streams),
        "rediscovered_artists": len(rows),
    }


def _last_plays(conn: Connection, scope: Scope, artist_ids: list[str]) -> dict[str, int]:
    """The last play (epoch milliseconds) before `scope.start` of each of a few artists.

    Per track of theirs, one probe of the (track_id, played_at) index for the latest earlier play.
    """
    if not artist_ids:
        return {}
    assert scope.start is not None
    credit, earlier = track_artists.alias("credit"), plays.alias("earlier")
    conditions = [earlier.c.track_id == credit.c.track_id, earlier.c.played_at < scope.start]
    if scope.user_id is not None:
        # `|| ''`: keep SQLite on the (track_id, played_at) index (see totals.new_artists).
        conditions.append(earlier.c.user_id.concat("") == scope.user_id)
    # The latest as "ORDER BY ... DESC LIMIT 1", not max(): PostgreSQL then walks the index backwards
    # and stops at the account's first play, where max() read all the track's earlier plays of every
    # account (a household's shared catalogue).
    track_last = (
        select(earlier.c.played_at)
        .where(*conditions)
        .order_by(earlier.c.played_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = conn.execute(
        select(credit.c.artist_id, epoch_ms(func.max(track_last)))
        .where(credit.c.artist_id.in_(artist_ids))
        .group_by(credit.c.artist_id)
    ).all()
    return {artist_id: int(ms) for artist_id, ms in rows if ms is not None}


def former_top_artists(
    conn: Connection, scope: Scope, earlier_artists: FromClause | None = None
) -> list[dict[str, Any]]:
    """The FORMER_TOP artists by credit of every play before `scope` starts (same account and
    stream threshold): what `forgotten_favourite` picks from. `earlier_artists`: the per-artist
    sums of those plays (`earlier.earlier_per_artist`), materialised; summed here when not given."""
    if scope.start is None:
        return []
    pa = earlier_artists
    if pa is None:
        bounded = Scope(scope.user_id, scope.start, scope.end or OPEN_END, scope.stream_threshold_ms)
        pa = earlier_per_artist(conn, bounded).subquery("before_artist")
    rows = conn.execute(
        select(pa.c.artist_id, pa.c.name, pa.c.plays, pa.c.streams, pa.c.main_streams)
        .where(pa.c.plays > 0)
        .order_by(
            doubled_credit(pa.c.streams, pa.c.main_streams).desc(),
            pa.c.streams.desc(),
            pa.c.plays.desc(),
            pa.c.ms_played.desc(),
            by_codepoint(pa.c.name),
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


def last_plays_before(scope: Scope, within: timedelta) -> Select[Any]:
    """(`artist_id`, `last_ms`): the last play (epoch milliseconds) of each artist played by the
    scope's account(s) in the `within` before `scope.start`. One range of the played_at index,
    however long the history.

    Not limited to a list of artists: SQLite drives the credits' (track_id, artist_id) index with
    such a list, probing every listed artist for every track (minutes on a long history).
    """
    assert scope.start is not None
    recent = Scope(scope.user_id, scope.start - within, scope.start, scope.stream_threshold_ms)
    per = (
        select(plays.c.track_id, func.max(plays.c.played_at).label("last_at"))
        .where(recent.where())
        .group_by(plays.c.track_id)
        .subquery("recent_last")
    )
    last = func.max(per.c.last_at)
    return (
        select(track_artists.c.artist_id, epoch_ms(last).label("last_ms"))
        .select_from(per.join(track_artists, track_artists.c.track_id == per.c.track_id))
        .group_by(track_artists.c.artist_id)
    )


def _padded_release(column: Any) -> Any:
    """A release date as the first day it may be ('2025' -> '2025-01-01', '2025-03' -> '2025-03-01')."""
    length = func.length(column)
    return case((length == 4, column + "-01-01"), (length == 7, column + "-01"), else_=column)


def tracks_streamed(pt: FromClause) -> Any:
    """How many of the grouped tracks of per-track sums `pt` were streamed, as `tracks_streamed`:
    a column for the period's per-album sums, which `top_new_albums` reads."""
    return func.sum(case((pt.c.streams > 0, 1), else_=0)).label("tracks_streamed")


def top_new_albums(
    conn: Connection, period: Period, pal: FromClause, *, limit: int = 5
) -> list[dict[str, Any]]:
    """Albums released in the period that were listened to: more than half of their tracks
    (`total_tracks`, as Spotify gives it) streamed in the period; by streams of their tracks.

    A release date known only to the year or month counts from its first day. Albums whose track
    count is unknown (not enriched yet) are left out. `pal`: the period's per-album sums
    (`per_album`) with `tracks_streamed`, materialised.
    """
    s = pal  # its NULL album (tracks not resolved yet) joins no album
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


def listening_baseline(conn: Connection, scope: Scope) -> dict[int, int]:
    """The listening age's baseline: per release year, the tracks of dated albums the scope's
    account(s) played up to its end, each once (`earlier.played_before_end`, materialised). Reads
    no temporary table of the caller's: Wrapped computes it on its second connection."""
    year = _release_year(albums.c.release_date)
    with materialized(conn, played_before_end(conn, scope)) as played:
        return dict(
            _per_year(
                conn,
                select(year.label("year"), func.count())
                .select_from(
                    played.join(tracks, tracks.c.id == played.c.track_id).join(
                        albums, albums.c.id == tracks.c.album_id
                    )
                )
                .where(albums.c.release_date.is_not(None), func.length(albums.c.release_date) >= 4)
                .group_by(year),
            )
        )


def listening_age(
    conn: Connection, period: Period, pal: FromClause, baseline: dict[int, int]
) -> dict[str, Any]:
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

    `pal`: the period's per-album sums, materialised; `baseline`: `listening_baseline` of its
    scope. Each play one vote; plays of undated albums are skipped.
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
