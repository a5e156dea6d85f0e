"""Wrapped for any period: totals, top lists, the listening clock, streaks, sessions and more."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Connection,
    FromClause,
    Select,
    Table,
    case,
    cast,
    func,
    select,
)

from brapped.insights import report_cache, rollups
from brapped.insights.aggregates import (
    ARTIST_SUMS,
    PER_PLAY,
    Cell,
    listening_clock,
    local_day,
    per_album,
    per_artist,
    per_track,
    period_plays,
    track_credits,
)
from brapped.insights.earlier import committed_per_artist, less_own
from brapped.insights.highlights import (
    DayTrackSums,
    forgotten_favourite,
    former_top_artists,
    listening_age,
    listening_baseline,
    most_played,
    obsession,
    rediscovery,
    top_new_albums,
    tracks_streamed,
)
from brapped.insights.period import Period, date_to_day, day_to_date, int_literal
from brapped.insights.race import FrameSums, artist_race, frame_sums, frames
from brapped.insights.scope import (
    Scope,
    alongside,
    by_codepoint,
    change,
    materialized,
    materialized_rows,
    minutes,
    not_various_artists,
    ratio,
)
from brapped.insights.sessions import longest_session, numbering
from brapped.insights.top import top_albums, top_artists_from, top_genres, top_tracks
from brapped.insights.totals import COMPARED, compared_totals, new_artists, spoken_word, totals
from brapped.store.tables import artists, track_artists, tracks


def wrapped(
    conn: Connection,
    period: Period,
    *,
    user_id: str | None = None,
    stream_threshold_ms: int = 30_000,
    session_gap_minutes: int = 30,
    limit: int = 100,
) -> dict[str, Any]:
    """The Wrapped report for `period`; keys documented in docs/reports.md.

    The period's plays are read once, into a narrow temporary table (`period_plays`: instants
    already parsed and shifted to local time); the per-track sums, the race's per-(day, track)
    sums, sessions and the skip rate are computed from it, and the rest from those smaller sums
    (the per-artist sums are shared by the top artists, the distinct-artist count and the
    discoveries). The plays before the period are read as per-artist sums, mostly from the stored
    summaries (`earlier.earlier_per_artist`), for the cards about the past. Those sums but the
    period's own, the previous period's totals and the listening age's count of the tracks played
    up to the period's end are computed meanwhile on a second connection (`alongside`), so from
    committed data, and asked for last; the totals are kept when that period is closed.
    """
    scope = Scope.of(period, user_id, stream_threshold_ms)
    previous_period = period.previous()
    previous_scope = Scope.of(previous_period, user_id, stream_threshold_ms)
    # The previous period is usually closed (last year, for this year's Wrapped): its totals are
    # then kept in the database once computed (brapped.insights.report_cache).
    previous_key = report_cache.key(
        "compared_totals", previous_period, user_id=user_id, stream_threshold_ms=stream_threshold_ms
    )

    def meanwhile(other: Connection) -> Meanwhile:
        committed, own_counted = committed_per_artist(other, scope)
        summed = committed.subquery("committed")
        # BIGINT: PostgreSQL sums BIGINT as NUMERIC, which psycopg reads as Decimal.
        rows = other.execute(
            select(summed.c.artist_id, *(cast(summed.c[c], BigInteger) for c in ARTIST_SUMS))
        ).all()
        previous = report_cache.through(
            other, previous_key, previous_period, lambda: compared_totals(other, previous_scope)
        )
        return Meanwhile(previous, listening_baseline(other, scope), rows, own_counted)

    later = alongside(conn, meanwhile)
    monthly = frames(period)[0] == "month"  # then the race's sums give each month's artists
    with (
        # Only scanned (grouped, summed): no statistics.
        materialized(
            conn, period_plays(scope, period), numbered_by=numbering(conn), small=PER_PLAY, analyze=False
        ) as pp,
        # With each track's first play of the period, for the rediscovery.
        materialized(conn, per_track(scope, source=pp).add_columns(first_ms(pp))) as pt,
        materialized(conn, per_artist(pt).add_columns(first_ms(pt))) as pa,
        materialized(conn, per_album(pt).add_columns(tracks_streamed(pt))) as pal,
        day_track_sums(conn, pp, by_track=not monthly) as (day_track, per_day),
    ):
        race_sums = frame_sums(conn, period, day_track)
        summary = totals(conn, scope, source=pt, artist_source=pa, album_source=pal)
        # A year of local hours from the stored summaries (a few thousand rows), not every play.
        grid = rollups.grid_of(conn, scope, period, source=pp)
        report: dict[str, Any] = {
            "period": period.as_dict(),
            **summary,
            # Spotify's rules (docs/reports.md): artists by weighted credit, tracks by streams.
            "top_artists": top_artists_from(conn, pa, by="credit", limit=limit),
            "top_tracks": top_tracks(conn, scope, by="streams", limit=limit, source=pt),
            "top_albums": top_albums(conn, scope, limit=limit, album_source=pal),
            "top_genres": top_genres(conn, scope, limit=limit, artist_source=pa),
            "top_artist_by_month": (
                _top_by_month_of(conn, period, race_sums)
                if monthly
                else _top_by_month_of_days(conn, period, pp, pa, day_track)
            ),
            "artist_race": artist_race(conn, period, day_track, by_frame=race_sums),
            "obsession": obsession(conn, period, per_day, pt),
            "rediscovery": None,  # below, with the cards about the past
            "forgotten_favourite": None,
            "top_new_albums": top_new_albums(conn, period, pal, limit=limit),
            "listening_clock": listening_clock(grid),
            "busiest_day": busiest_day(grid),
            "longest_streak": longest_streak(grid),
            "longest_session": longest_session(
                conn, pp, period, session_gap_minutes, one_account=user_id is not None
            ),
            "most_repeated_track_in_a_day": most_repeated_track(conn, per_day, pt),
            "discoveries": None,
            "listening_age": None,
            "skip_rate": skip_rate(conn, pp),
            "estimated_share": summary["time_sources"]["estimated_share"],
            "previous_period": None,
            "change": None,
            "spoken_word": spoken_word(conn, scope),
        }
        # Asked for last: the second connection computes meanwhile.
        previous, baseline, committed_rows, own_counted = later()
        with (
            materialized_rows(conn, ["artist_id", *ARTIST_SUMS], committed_rows) as committed,
            # Every play before the period, per artist: what the cards about the past (former
            # top artists, new artists, rediscovery) ask of it.
            materialized(conn, less_own(committed, pa if own_counted else None)) as earlier_artists,
        ):
            new_count, new_list = new_artists(
                conn, scope, limit=5, artist_source=pa, earlier_artists=earlier_artists
            )
            former = former_top_artists(conn, scope, earlier_artists)
            report["rediscovery"] = rediscovery(conn, scope, period, pa, earlier_artists)
            report["forgotten_favourite"] = forgotten_favourite(conn, scope, period, former, pa)
            report["discoveries"] = {"new_artists": new_count, "top_new_artists": new_list}
        report["listening_age"] = listening_age(conn, period, pal, baseline)
        report["previous_period"] = {
            "period": previous_period.as_dict(),
            **{key: previous[key] for key in COMPARED},
        }
        # Minutes from milliseconds: the rounded minutes of a small period change its change.
        exact = {"minutes_listened": "ms_played"}
        report["change"] = {
            key: change(summary[exact.get(key, key)], previous[exact.get(key, key)]) for key in COMPARED
        }
        return report


class Meanwhile(NamedTuple):
    """What `wrapped` asks of its second connection (`alongside`)."""

    previous: dict[str, Any]  # the previous period's `compared_totals`
    baseline: dict[int, int]  # `listening_baseline`
    committed: Sequence[Any]  # the rows of `earlier.committed_per_artist`
    own_counted: bool  # and whether the period's own sums are to be taken off them


def kept_wrapped(
    conn: Connection,
    period: Period,
    *,
    user_id: str | None = None,
    stream_threshold_ms: int = 30_000,
    session_gap_minutes: int = 30,
    limit: int = 100,
) -> dict[str, Any]:
    """`wrapped`, read back from the database when its period is closed and it was computed
    before (brapped.insights.report_cache); computed, and kept when the period is closed, otherwise."""
    settings: dict[str, Any] = {
        "user_id": user_id,
        "stream_threshold_ms": stream_threshold_ms,
        "session_gap_minutes": session_gap_minutes,
        "limit": limit,
    }
    return report_cache.through(
        conn,
        report_cache.key("wrapped", period, **settings),
        period,
        lambda: wrapped(conn, period, **settings),
    )


def first_ms(source: FromClause) -> Any:
    """The earliest `end_ms` (or `first_ms`) of the rows grouped, as column `first_ms`."""
    column = source.c.first_ms if "first_ms" in source.c else source.c.end_ms
    return func.min(column).label("first_ms")


@contextmanager
def day_track_sums(
    conn: Connection, pp: FromClause, *, by_track: bool = False
) -> Iterator[tuple[FromClause, DayTrackSums]]:
    """The period's sums per local day and track (`per_day_track` of its plays `pp`), and a
    function giving them for some tracks only (`highlights.DayTrackSums`).

    On SQLite a table: the race reads it whole, the obsession and the most repeated track a few
    tracks of it; indexed by track when `by_track` (the top artist of each month joins it by
    track, twice, unless the race gives it). PostgreSQL sums them as it goes: writing the table
    cost more than it saved there, and the race, which only sums, gets the plays themselves with
    their day and the same columns (a per-(day, track) stage barely shortens a year's plays).
    """
    if conn.dialect.name != "sqlite":
        each_play = select(
            local_day(pp).label("day"),
            pp.c.track_id,
            int_literal(1).label("plays"),
            pp.c.stream.label("streams"),
            pp.c.ms.label("ms_played"),
        )
        yield (
            each_play.subquery("day_track"),
            lambda ids: per_day_track(pp, ids).subquery("day_track"),
        )
        return
    with materialized(conn, per_day_track(pp), sqlite_index="track_id" if by_track else None) as dt:
        yield dt, lambda ids: select(dt).where(dt.c.track_id.in_(ids)).subquery("day_track")


def per_day_track(pp: FromClause, track_ids: Select[Any] | None = None) -> Select[Any]:
    """One row per local day and track of `period_plays` (of the tracks `track_ids` gives, when
    given): plays, streams, milliseconds."""
    day = local_day(pp)
    query = select(
        day.label("day"),
        pp.c.track_id,
        func.count().label("plays"),
        func.sum(pp.c.stream).label("streams"),
        func.sum(pp.c.ms).label("ms_played"),
    ).group_by(day, pp.c.track_id)
    return query if track_ids is None else query.where(pp.c.track_id.in_(track_ids))


def busiest_day(grid: list[Cell]) -> dict[str, Any] | None:
    """The local day with the most minutes (earliest on a tie)."""
    per_day: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for cell in grid:
        per_day[cell.day][0] += cell.ms_played
        per_day[cell.day][1] += cell.plays
    if not per_day:
        return None
    day, (ms, count) = min(per_day.items(), key=lambda item: (-item[1][0], item[0]))
    return {"date": day_to_date(day).isoformat(), "minutes": minutes(ms), "plays": count}


def longest_streak(grid: list[Cell]) -> dict[str, Any] | None:
    """The longest run of consecutive local days with at least one stream (earliest on a tie)."""
    days = sorted({cell.day for cell in grid if cell.streams > 0})
    best: tuple[int, int] | None = None
    run_start = None
    for index, day in enumerate(days):
        if index == 0 or day != days[index - 1] + 1:
            run_start = day
        assert run_start is not None
        if best is None or day - run_start > best[1] - best[0]:
            best = (run_start, day)
    if best is None:
        return None
    return {
        "days": best[1] - best[0] + 1,
        "start": day_to_date(best[0]).isoformat(),
        "end": day_to_date(best[1]).isoformat(),
    }


def top_artist_by_month(
    conn: Connection,
    period: Period,
    dt: FromClause,
    pa: FromClause | None = None,
) -> list[dict[str, Any]]:
    """The most played artist (any credit) of each local month with plays.

    `dt`: the period's `per_day_track`, materialised; `pa`: its per-artist sums (`per_artist`),
    materialised, which lets the months be ranked among a few candidates instead of every artist
    (see `_month_candidates`). When the race's frames are the months, `_top_by_month_of` reads
    them from its sums instead.
    """
    candidates = None
    if pa is not None:
        threshold = _month_candidates(conn, dt, pa, period)
        if threshold > 0:
            candidates = select(pa.c.artist_id).where(pa.c.plays >= threshold)
    month = month_key(dt.c.day, period)
    if candidates is not None:
        # From the few candidates to their tracks' days: no pass over every (day, track).
        listed = candidates.subquery()
        inner = (
            select(month.label("month"), track_artists.c.artist_id, dt.c.plays, dt.c.ms_played)
            .select_from(
                listed.join(track_artists, track_artists.c.artist_id == listed.c.artist_id).join(
                    dt, dt.c.track_id == track_artists.c.track_id
                )
            )
            .subquery()
        )
    else:
        single_month = len(_months(period)) == 1
        # Days to months first (integer arithmetic, no date formatting per row), then the fewer
        # (month, track) rows to their credits.
        per_month = (
            select(
                month.label("month"),
                dt.c.track_id,
                func.sum(dt.c.plays).label("plays"),
                func.sum(dt.c.ms_played).label("ms_played"),
            )
            # A literal month (one-month period) cannot be grouped by: SQL reads it as a column number.
            .group_by(*([] if single_month else [month]), dt.c.track_id)
            .subquery()
        )
        credited = per_month.join(track_artists, track_artists.c.track_id == per_month.c.track_id).join(
            artists, artists.c.id == track_artists.c.artist_id
        )
        inner = (
            select(per_month.c.month, track_artists.c.artist_id, per_month.c.plays, per_month.c.ms_played)
            .select_from(credited)
            .where(not_various_artists())
            .subquery()
        )
    n_plays = func.sum(inner.c.plays)
    total_ms = func.sum(inner.c.ms_played)
    ranked = (
        select(
            inner.c.month,
            inner.c.artist_id,
            n_plays.label("plays"),
            total_ms.label("ms_played"),
            func.row_number()
            .over(
                partition_by=inner.c.month,
                # A tie goes by name, then id, as top lists rank: the month's top artist is the
                # first of `report top artists` for that month.
                order_by=[
                    n_plays.desc(),
                    total_ms.desc(),
                    by_codepoint(artists.c.name),
                    by_codepoint(inner.c.artist_id),
                ],
            )
            .label("place"),
        )
        .select_from(inner.join(artists, artists.c.id == inner.c.artist_id))
        .group_by(inner.c.month, inner.c.artist_id, artists.c.name)
        .subquery()
    )
    rows = conn.execute(
        select(ranked.c.month, artists.c.id, artists.c.name, ranked.c.plays, ranked.c.ms_played)
        .join(artists, artists.c.id == ranked.c.artist_id)
        .where(ranked.c.place == 1)
        .order_by(ranked.c.month)
    )
    names = month_names(period)
    return [
        {
            "month": names[int(r.month)],
            "artist": {"id": r.id, "name": r.name},
            "plays": int(r.plays),
            "minutes": minutes(r.ms_played),
        }
        for r in rows
    ]


def _top_by_month_of_days(
    conn: Connection, period: Period, pp: FromClause, pa: FromClause, day_track: FromClause
) -> list[dict[str, Any]]:
    """`top_artist_by_month` from the period's plays `pp` and per-artist sums `pa`, materialised,
    and `day_track` of `day_track_sums`."""
    if isinstance(day_track, Table):  # materialised already
        return top_artist_by_month(conn, period, day_track, pa)
    # Joined by track to the credits of the monthly top artists' candidates, twice.
    with materialized(conn, per_day_track(pp)) as dt:
        return top_artist_by_month(conn, period, dt, pa)


def _top_by_month_of(conn: Connection, period: Period, sums: FrameSums) -> list[dict[str, Any]]:
    """`top_artist_by_month` from the race's monthly sums: the most plays, then minutes, then
    the name and the id by code point (as top lists rank)."""
    best: dict[int, tuple[int, int]] = {}
    tied: dict[int, list[str]] = defaultdict(list)
    for month, artist_id, _, _, count, ms in sums.rows:
        key = (-int(count), -int(ms))
        known = best.get(int(month))
        if known is None or key < known:
            best[int(month)] = key
            tied[int(month)] = [artist_id]
        elif key == known:
            tied[int(month)].append(artist_id)
    ids = sorted({artist_id for listed in tied.values() for artist_id in listed})
    names = dict(conn.execute(select(artists.c.id, artists.c.name).where(artists.c.id.in_(ids))).all())
    labels = month_names(period)
    out = []
    for month, (count, ms) in sorted(best.items()):
        artist_id = min(tied[month], key=lambda listed: (names[listed], listed))
        out.append(
            {
                "month": labels[month],
                "artist": {"id": artist_id, "name": names[artist_id]},
                "plays": -count,
                "minutes": minutes(-ms),
            }
        )
    return out


MONTH_PROBE_ARTISTS = 10


def _month_candidates(conn: Connection, dt: FromClause, pa: FromClause, period: Period) -> int:
    """The fewest plays in the period an artist needs to be some month's top artist; 0 = no bound.

    The top artist of month m has at least as many plays in m as any other artist, in particular
    as the best of the period's few most played artists (probed here); and an artist's plays in
    one month are at most its plays in the period. So only artists with at least the smallest of
    those monthly bests, over the months with plays, can top a month: a handful, instead of every
    artist of the period joined to every (month, track). Exact, ties included; a month none of
    the probed artists played gives no bound (0).
    """
    probe = (
        select(pa.c.artist_id)
        .order_by(pa.c.plays.desc(), by_codepoint(pa.c.artist_id))
        .limit(MONTH_PROBE_ARTISTS)
        .subquery()
    )
    month = month_key(dt.c.day, period)
    single_month = len(_months(period)) == 1
    per_artist_month = (
        select(month.label("month"), track_artists.c.artist_id, func.sum(dt.c.plays).label("plays"))
        .select_from(
            probe.join(track_artists, track_artists.c.artist_id == probe.c.artist_id).join(
                dt, dt.c.track_id == track_artists.c.track_id
            )
        )
        .group_by(*([] if single_month else [month]), track_artists.c.artist_id)
        .subquery()
    )
    best = dict(
        conn.execute(
            select(per_artist_month.c.month, func.max(per_artist_month.c.plays)).group_by(
                per_artist_month.c.month
            )
        ).all()
    )
    months_with_plays = {
        row[0]
        for row in conn.execute(
            select(month.label("month")).group_by(*([] if single_month else [month]))
        ).all()
    }
    return min((int(best.get(m) or 0) for m in months_with_plays), default=0)


def _months(period: Period) -> list[date]:
    """The first day of each calendar month the period touches."""
    first = period.start.replace(day=1)
    months = []
    while first <= period.end:
        months.append(first)
        first = (first + timedelta(days=32)).replace(day=1)
    return months


def month_key(day: Any, period: Period) -> Any:
    """The index (0 = the period's first month) of a local day number's month, as SQL."""
    starts = [date_to_day(m) for m in _months(period)[1:]]
    if not starts:
        return int_literal(0)
    whens = [(day < int_literal(start), int_literal(i)) for i, start in enumerate(starts)]
    return case(*whens, else_=int_literal(len(starts)))


def month_names(period: Period) -> list[str]:
    """'YYYY-MM' of each `month_key`."""
    return [m.strftime("%Y-%m") for m in _months(period)]


MOST_REPEATED_PROBE = 10


def most_repeated_track(conn: Connection, per_day: DayTrackSums, pt: FromClause) -> dict[str, Any] | None:
    """The track played most times within one local day (most minutes, then earliest day on a tie).

    `per_day(track_ids)`: the period's per-day-and-track sums of those tracks; `pt`: its
    per-track sums, materialised. Only tracks played in the whole period at least as often as
    the best day of its MOST_REPEATED_PROBE most played tracks can have a better day (a day's
    plays are at most the track's): those few are summed per day, not every track (exact, ties
    included).
    """
    found = _most_repeated_row(conn, per_day(most_played(pt, MOST_REPEATED_PROBE)))
    if found is None:
        return None
    row = _most_repeated_row(conn, per_day(select(pt.c.track_id).where(pt.c.plays >= int(found.plays))))
    assert row is not None  # the probe's best day is among them
    name = conn.execute(select(tracks.c.name).where(tracks.c.id == row.track_id)).scalar_one()
    return {
        "date": day_to_date(row.day).isoformat(),
        "track": {
            "id": row.track_id,
            "name": name,
            "artists": track_credits(conn, [row.track_id])[row.track_id],
        },
        "plays": int(row.plays),
        "minutes": minutes(row.ms_played),
    }


def _most_repeated_row(conn: Connection, dt: FromClause) -> Any:
    """The (day, track) row of per-day-and-track sums `dt` with the most plays (then minutes,
    then the earliest day, then the track id by code point), or None."""
    return conn.execute(
        select(dt.c.day, dt.c.track_id, dt.c.plays, dt.c.ms_played)
        .order_by(dt.c.plays.desc(), dt.c.ms_played.desc(), dt.c.day, by_codepoint(dt.c.track_id))
        .limit(1)
    ).first()


def skip_rate(conn: Connection, pp: FromClause) -> dict[str, Any]:
    """Share of plays marked skipped, among plays where the source says whether (exports do).

    `pp`: the period's `period_plays`, materialised (its `skipped` is 1, 0 or NULL).
    """
    row = conn.execute(select(func.coalesce(func.sum(pp.c.skipped), 0), func.count(pp.c.skipped))).one()
    skipped, known = int(row[0]), int(row[1])
    return {"skipped": skipped, "plays_with_skip_flag": known, "rate": ratio(skipped, known)}
