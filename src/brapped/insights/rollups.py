"""Sums of older plays kept in the database, so reports over a long history read thousands of rows.

An all-time report on a heavy listener's 1,000,000 plays spent most of its time summing every play
per track (for top lists and totals) and turning every instant into a local day and hour (for the
calendar and the listening clock). Those sums hardly change: a sync only adds plays at the end of
the history. So brapped keeps them for every play before a cutoff a week before the newest play:

- `track_totals`: per account and track, what `aggregates.per_track` sums;
- `hour_totals`: per account, local day and local hour (in the zone of the build), what
  `aggregates.day_hour_grid` sums.

A report whose period takes in every summed play reads the summary rows and adds the plays after
the cutoff from `plays` (a week or a few of them). Triggers on `plays` (revision 0007) mark the
summaries stale the moment any play before the cutoff is inserted, changed or deleted (an import of
old history, enrich merging tracks, a migration); stale summaries, or ones built for another zone
or stream threshold, are never read: reports then sum `plays` as before and give the same numbers,
only slower. `refresh` rebuilds them (the dashboard's warm-up, `brapped run`, import and enrich call
it); it also moves the cutoff forward once it lags the newest play by more than `REBUILD_AFTER`.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    FromClause,
    Select,
    Table,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from brapped.insights.aggregates import (
    OPEN_END,
    PER_TRACK_COLUMNS,
    Cell,
    clock_document,
    day_hour_grid,
    listening_clock,
    per_album,
    per_artist,
    per_track,
    period_plays,
)
from brapped.insights.period import LocalTime, Period, date_to_day, int_literal, zone
from brapped.insights.scope import Scope, account_bounds, materialized, one_account
from brapped.store import Store
from brapped.store.tables import (
    album_totals,
    artist_totals,
    hour_totals,
    plays,
    report_state,
    summary_state,
    track_totals,
)

log = logging.getLogger(__name__)

# Plays of the last week stay out of the sums: sync keeps adjusting them (estimated lengths are
# re-estimated when the next play arrives), and a change to a summed play forces a rebuild.
KEEP_RECENT = timedelta(days=7)
# Past this lag the cutoff moves forward (a rebuild), so reports never add more than about a
# month of recent plays.
REBUILD_AFTER = timedelta(days=35)


@dataclass(frozen=True)
class State:
    """What the stored summaries hold."""

    cutoff: datetime
    first_played_at: datetime | None
    timezone: str
    stream_threshold_ms: int
    stale: bool
    built_at: datetime


@dataclass(frozen=True)
class Refreshed:
    """What `refresh` did: `action` is "fresh" (nothing to do), "built" or "cleared"."""

    action: str
    reason: str
    cutoff: datetime | None = None
    tracks: int = 0
    hours: int = 0


def state(conn: Connection) -> State | None:
    """The summaries' state, None when never built."""
    row = conn.execute(select(summary_state).where(summary_state.c.id == 1)).first()
    if row is None:
        return None
    return State(
        cutoff=row.cutoff,
        first_played_at=row.first_played_at,
        timezone=row.timezone,
        stream_threshold_ms=int(row.stream_threshold_ms),
        stale=bool(row.stale),
        built_at=row.built_at,
    )


def usable(conn: Connection, stream_threshold_ms: int, timezone: str | None = None) -> State | None:
    """The summaries' state when a report with these settings may read them, else None."""
    found = state(conn)
    if found is None or found.stale or found.first_played_at is None:
        return None
    if found.stream_threshold_ms != stream_threshold_ms:
        return None
    if timezone is not None and found.timezone != timezone:
        return None
    return found


def _why_rebuild(found: State | None, timezone: str, threshold: int, newest: datetime) -> str | None:
    if found is None:
        return "never built"
    if found.stale:
        return "plays before the cutoff changed"
    if found.timezone != timezone:
        return f"built for {found.timezone}"
    if found.stream_threshold_ms != threshold:
        return f"built for a {found.stream_threshold_ms} ms stream threshold"
    if newest - found.cutoff > REBUILD_AFTER + KEEP_RECENT:
        return "the cutoff lags the newest play"
    return None


def refresh(conn: Connection, timezone: str, stream_threshold_ms: int, now: datetime) -> Refreshed:
    """Rebuild the summaries if they are missing, stale, for other settings or lagging.

    `conn` must be in a transaction that may write, begun with the write lock on SQLite
    (`Store.begin(immediate=True)`, or use `refresh_store`): no other writer can then change a play
    between the sums and their state. The rebuild is all or nothing with the transaction: one pass
    over `plays` for each table.
    """
    zone(timezone)  # an unknown zone fails here, before anything is deleted
    if conn.dialect.name == "postgresql":
        # Writers of plays wait until this commits (readers do not), for the same reason.
        conn.exec_driver_sql("LOCK TABLE plays IN SHARE MODE")
    found = state(conn)
    newest = conn.execute(select(func.max(plays.c.played_at))).scalar_one()
    if newest is None:
        if found is None:
            return Refreshed("fresh", "no plays")
        _clear(conn)
        _next_generation(conn)
        return Refreshed("cleared", "no plays")
    reason = _why_rebuild(found, timezone, stream_threshold_ms, newest)
    if reason is None:
        assert found is not None
        return Refreshed("fresh", "up to date", found.cutoff)
    _clear(conn)
    day = newest.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    cutoff = day - KEEP_RECENT
    first = conn.execute(select(func.min(plays.c.played_at)).where(plays.c.played_at < cutoff)).scalar_one()
    _next_generation(conn)
    tracks = hours = 0
    if first is not None:
        scope = Scope(None, None, cutoff, stream_threshold_ms)
        sums = _per_track_and_user(conn, scope)
        columns = ["track_id", *PER_TRACK_COLUMNS, "user_id"]
        tracks = conn.execute(insert(track_totals).from_select(columns, sums)).rowcount or 0
        _build_artists_and_albums(conn)
        hours = _build_hours(conn, timezone, stream_threshold_ms, first, cutoff)
        if conn.dialect.name == "postgresql":
            # New rows have no statistics until autovacuum's next visit (never, where it is off):
            # the planner then guesses, and reports joining these tables chose nested loops.
            conn.exec_driver_sql("ANALYZE track_totals, artist_totals, album_totals, hour_totals")
    conn.execute(
        insert(summary_state).values(
            id=1,
            cutoff=cutoff,
            first_played_at=first,
            timezone=timezone,
            stream_threshold_ms=stream_threshold_ms,
            stale=False,
            built_at=now,
        )
    )
    return Refreshed("built", reason, cutoff, tracks, hours)


def _per_track_and_user(conn: Connection, scope: Scope) -> Select[Any]:
    """`per_track(scope)` per account. With one account (the usual database) it is grouped by track
    alone: the covering track index then serves it in order, where grouping by account too reads
    every play's row for its account and sorts them all in a temporary tree."""
    lowest, highest = account_bounds(conn, plays)
    if lowest == highest:
        return per_track(scope).add_columns(literal(lowest, plays.c.user_id.type).label("user_id"))
    return per_track(scope).add_columns(plays.c.user_id).group_by(plays.c.user_id)


def refresh_store(store: Store, timezone: str, stream_threshold_ms: int, now: datetime) -> Refreshed:
    """`refresh` in its own transaction, with SQLite's write lock taken at its start."""
    with store.begin(immediate=True) as conn:
        return refresh(conn, timezone, stream_threshold_ms, now)


def try_refresh(store: Store, timezone: str, stream_threshold_ms: int, now: datetime) -> Refreshed | None:
    """`refresh_store` after a command's real work: a failure is logged, not raised (the summaries
    only make reports faster, and readers ignore stale ones)."""
    try:
        done = refresh_store(store, timezone, stream_threshold_ms, now)
    except (SQLAlchemyError, ValueError, KeyError) as exc:  # KeyError: ZoneInfoNotFoundError
        log.warning("could not rebuild the report summaries: %s", str(exc).splitlines()[0])
        return None
    if done.action != "fresh":
        # DEBUG: `brapped run` logs INFO records as its event stream.
        log.debug(
            "report summaries %s (%s): %s tracks, %s hours", done.action, done.reason, done.tracks, done.hours
        )
    return done


def _clear(conn: Connection) -> None:
    for table in (summary_state, track_totals, artist_totals, album_totals, hour_totals):
        conn.execute(delete(table))


def _next_generation(conn: Connection) -> None:
    """Every result kept for a closed period (brapped.insights.report_cache) is out of date after a rebuild:
    the rebuild may follow a change to the plays it summed."""
    conn.execute(
        update(report_state).where(report_state.c.id == 1).values(generation=report_state.c.generation + 1)
    )


def _build_artists_and_albums(conn: Connection) -> None:
    """Per-artist and per-album sums from `track_totals`, per account: `per_artist` and
    `per_album` of it (Various Artists left out; tracks without an album too). The artists'
    names are not kept: the sums are read without them (`names=False`, the faster plan)."""
    artist_sums = per_artist(track_totals, by_user=True, names=False).subquery("artist_sums")
    columns = [c.name for c in artist_totals.columns]
    conn.execute(insert(artist_totals).from_select(columns, select(*(artist_sums.c[c] for c in columns))))
    album_sums = per_album(track_totals, by_user=True).subquery("album_sums")
    columns = [c.name for c in album_totals.columns]
    conn.execute(
        insert(album_totals).from_select(
            columns, select(*(album_sums.c[c] for c in columns)).where(album_sums.c.album_id.is_not(None))
        )
    )


def _build_hours(conn: Connection, timezone: str, threshold: int, first: datetime, cutoff: datetime) -> int:
    """Sum the plays before `cutoff` per local day and hour, a local year at a time.

    A year at a time keeps the zone's offset expression to that year's few transitions (over all
    of a long history it would test dozens per play); years start at local midnight, so no local
    day is split between two statements (its hours are the table's key).
    """
    tz = zone(timezone)
    total = 0
    year = first.astimezone(tz).year
    last = cutoff.astimezone(tz).year
    while year <= last:
        period = Period.year(year, timezone)
        start, end = period.start_utc, min(period.end_utc, cutoff)
        local = LocalTime.of(plays.c.played_at, timezone, start, end)
        scope = Scope(None, start, end, threshold)
        # Grouped by the local hour's number, named: its expression (the costly part, a date parsed
        # and the zone's offset) is worked out once a play, not once for the day and again for the
        # hour; both come of the number once a group (`LocalTime.day` and `.hour` of the same).
        sums = (
            select(
                plays.c.user_id,
                (local.seconds // int_literal(3600)).label("local_hour"),
                func.count().label("plays"),
                func.sum(scope.is_stream()).label("streams"),
                func.sum(scope.ms()).label("ms_played"),
            )
            .where(scope.where())
            .group_by(plays.c.user_id, literal_column("local_hour"))
            .subquery("hour_sums")
        )
        query = select(
            sums.c.user_id,
            (sums.c.local_hour // int_literal(24)).label("day"),
            (sums.c.local_hour % int_literal(24)).label("hour"),
            sums.c.plays,
            sums.c.streams,
            sums.c.ms_played,
        )
        columns = ["user_id", "day", "hour", "plays", "streams", "ms_played"]
        total += conn.execute(insert(hour_totals).from_select(columns, query)).rowcount or 0
        year += 1
    return total


def mark_stale(conn: Connection) -> None:
    """Make readers ignore the summaries (for writes that the triggers cannot see)."""
    conn.execute(update(summary_state).values(stale=True))


def covering(conn: Connection, scope: Scope) -> State | None:
    """The summaries' state when every summed play lies in `scope` and they may be read, else None.

    The scope's plays are then the summed plays (of its account) and its plays from the cutoff on.
    """
    found = usable(conn, scope.stream_threshold_ms)
    if found is None or found.first_played_at is None:
        return None
    if scope.start is not None and scope.start > found.first_played_at:
        return None
    if scope.end is not None and scope.end < found.cutoff:
        return None
    return found


def recent(scope: Scope, found: State) -> Scope:
    """The part of a covering `scope` that the summaries do not hold: from the cutoff on.

    Always bounded: with "from the cutoff" alone SQLite's planner (no statistics) scans the whole
    (track_id, ...) index to group by track, a million entries for the week of plays that a
    range of the played_at index gives at once.
    """
    return Scope(scope.user_id, found.cutoff, scope.end or OPEN_END, scope.stream_threshold_ms)


def per_track_of(
    conn: Connection, scope: Scope, track_ids: Any = None, columns: Sequence[str] = PER_TRACK_COLUMNS
) -> Select[Any]:
    """`per_track(scope)`, read from `track_totals` when the scope takes in every summed play.

    `track_ids`: only these tracks (a subquery or a list). The columns and the numbers are those
    of `per_track`; only the work differs. `columns`: the sums needed (at least these come back;
    summing fewer of the ~50,000 stored rows of a long history is cheaper).
    """
    found = covering(conn, scope)
    if found is None:
        query = per_track(scope)
        return query.where(plays.c.track_id.in_(track_ids)) if track_ids is not None else query
    later = per_track(recent(scope, found))
    if track_ids is not None:
        later = later.where(plays.c.track_id.in_(track_ids))
    return merged(track_totals, "track_id", columns, later.subquery("later"), scope, track_ids)


def most_played_tracks(
    conn: Connection, scope: Scope, allowed: Callable[[Any], ColumnElement[bool]], limit: int
) -> list[str] | None:
    """Track ids that take in the `limit` most played tracks of a covering `scope` for which
    `allowed(track_id column)` holds, and every track tied with the last of them: a short list to
    rank exactly, found without summing every track. None when the summaries cannot tell (the
    scope does not cover them, or it spans several accounts).

    Stored plays rank every track as of the cutoff; a track played since may overtake others. So:
    the allowed tracks with at least as many stored plays as the `limit`-th best of them (walked
    down the (user_id, plays) index until `limit` are allowed), plus every allowed track played
    since the cutoff. Any other track has no plays since, and no more than each of those `limit`,
    whose totals can only be higher.
    """
    found = covering(conn, scope)
    if found is None:
        return None
    tt = track_totals
    user = scope.user_id
    if user is None:
        lowest, highest = account_bounds(conn, tt)
        if lowest is None or lowest != highest:
            return None
        user = lowest
    nth = conn.execute(
        select(tt.c.plays)
        .where(tt.c.user_id == user, allowed(tt.c.track_id))
        .order_by(tt.c.plays.desc())
        .limit(1)
        .offset(limit - 1)
    ).scalar()
    stored = select(tt.c.track_id).where(
        tt.c.user_id == user, tt.c.plays >= (nth or 0), allowed(tt.c.track_id)
    )
    since = select(plays.c.track_id).where(recent(scope, found).where(), allowed(plays.c.track_id))
    return list(conn.execute(union(stored, since)).scalars())


def merged(
    table: Table, key: str, columns: Sequence[str], later: FromClause, scope: Scope, only: Any = None
) -> Select[Any]:
    """The stored sums of `table` (of the scope's account) plus `later` (the same sums of the plays
    after the cutoff), per `key`: the sums of every play of a covering scope.

    `only`: just these keys (a list or a subquery); `later` must be limited to them already.
    """
    summed = select(table.c[key], *(table.c[c] for c in columns))
    if scope.user_id is not None:
        summed = summed.where(table.c.user_id == scope.user_id)
    if only is not None:
        summed = summed.where(table.c[key].in_(only))
    both = union_all(summed, select(later.c[key], *(later.c[c] for c in columns))).subquery("both")
    return select(both.c[key].label(key), *(func.sum(both.c[c]).label(c) for c in columns)).group_by(
        both.c[key]
    )


@contextmanager
def per_track_table(conn: Connection, scope: Scope) -> Iterator[Table]:
    """`materialized(conn, per_track_of(conn, scope))`, built faster from `track_totals` when it
    holds one row per track of the scope (one account, or the scope's account).

    Then the summed rows are copied as they are and the plays after the cutoff added onto them by
    an upsert on the track, instead of grouping the union of both (tens of thousands of rows).
    """
    found = covering(conn, scope)
    tt = track_totals
    if found is None or not (scope.user_id is not None or one_account(conn, tt)):
        with materialized(conn, per_track_of(conn, scope)) as table:
            yield table
        return
    summed = select(tt.c.track_id, *(tt.c[c] for c in PER_TRACK_COLUMNS))
    if scope.user_id is not None:
        summed = summed.where(tt.c.user_id == scope.user_id)
    with materialized(conn, summed) as table:
        conn.exec_driver_sql(f"CREATE UNIQUE INDEX {table.name}_track ON {table.name} (track_id)")
        later = per_track(recent(scope, found)).subquery("later")
        dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
        # WHERE: SQLite reads "SELECT ... ON CONFLICT" as a join constraint without one.
        rows = select(later.c.track_id, *(later.c[c] for c in PER_TRACK_COLUMNS)).where(true())
        statement = dialect_insert(table).from_select(["track_id", *PER_TRACK_COLUMNS], rows)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.track_id],
            set_={c: table.c[c] + statement.excluded[c] for c in PER_TRACK_COLUMNS},
        )
        conn.execute(statement)
        yield table


def _hours_of(scope: Scope, period: Period) -> list[ColumnElement[bool]]:
    """The rows of `hour_totals` on the period's local days, of the scope's account."""
    conditions = [
        hour_totals.c.day >= date_to_day(period.start),
        hour_totals.c.day <= date_to_day(period.end),
    ]
    if scope.user_id is not None:
        conditions.append(hour_totals.c.user_id == scope.user_id)
    return conditions


def _after_cutoff(scope: Scope, period: Period, found: State) -> Scope:
    """The period's plays that `hour_totals` does not hold: from the cutoff to its end."""
    return Scope(scope.user_id, found.cutoff, period.end_utc, scope.stream_threshold_ms)


def grid_of(
    conn: Connection, scope: Scope, period: Period, *, source: FromClause | None = None
) -> list[Cell]:
    """`day_hour_grid(conn, scope, period)`, from `hour_totals` where it can. `source`: the
    scope's `period_plays`, materialised, read when `hour_totals` cannot serve."""
    found = usable(conn, scope.stream_threshold_ms, period.timezone)
    if (found is None or period.start_utc >= found.cutoff) and source is not None:
        return day_hour_grid(conn, scope, period, source=source)
    if found is None or period.start_utc >= found.cutoff:
        # Through `period_plays`: the zone's offset evaluated once a play, not once for the day
        # and again for the hour.
        with materialized(conn, period_plays(scope, period)) as pp:
            return day_hour_grid(conn, scope, period, source=pp)
    conditions = _hours_of(scope, period)
    total = [
        cast(func.sum(hour_totals.c[c]), BigInteger) for c in ("plays", "streams", "ms_played")
    ]  # BIGINT: PostgreSQL's SUM of BIGINT is NUMERIC, which psycopg turns into Decimal
    rows = conn.execute(
        select(hour_totals.c.day, hour_totals.c.hour, *total)
        .where(*conditions)
        .group_by(hour_totals.c.day, hour_totals.c.hour)
        .order_by(hour_totals.c.day, hour_totals.c.hour)
    )
    cells = list(map(Cell._make, rows))
    if period.end_utc <= found.cutoff:
        return cells
    recent = day_hour_grid(conn, _after_cutoff(scope, period, found), period)
    if not recent:
        return cells
    # The plays after the cutoff fall on its local day and later: only those cells can meet.
    split = bisect_left(cells, (recent[0].day,))
    merged = {(c.day, c.hour): c for c in cells[split:]}
    for cell in recent:
        known = merged.get((cell.day, cell.hour))
        if known is not None:
            cell = Cell(
                cell.day,
                cell.hour,
                known.plays + cell.plays,
                known.streams + cell.streams,
                known.ms_played + cell.ms_played,
            )
        merged[(cell.day, cell.hour)] = cell
    return cells[:split] + sorted(merged.values())


def days_and_clock(conn: Connection, scope: Scope, period: Period) -> tuple[dict[int, int], dict[str, Any]]:
    """Milliseconds per local day and the listening clock of `period`: what the overview draws.

    The same as summing `grid_of` per day and per weekday and hour (`listening_clock`), but
    summed in SQL from `hour_totals` where it can: a long history has ~100,000 cells and only
    ~6,000 days and 168 clock cells.
    """
    found = usable(conn, scope.stream_threshold_ms, period.timezone)
    if found is None or period.start_utc >= found.cutoff:
        grid = grid_of(conn, scope, period)
        per_day: dict[int, int] = {}
        for cell in grid:
            per_day[cell.day] = per_day.get(cell.day, 0) + cell.ms_played
        return per_day, listening_clock(grid)
    ht = hour_totals
    conditions = _hours_of(scope, period)
    ms_sum = cast(func.sum(ht.c.ms_played), BigInteger)
    per_day = {
        int(day): int(ms)
        for day, ms in conn.execute(select(ht.c.day, ms_sum).where(*conditions).group_by(ht.c.day))
    }
    weekday = (ht.c.day + 3) % 7  # day 0, 1970-01-01, was a Thursday
    ms = [[0] * 24 for _ in range(7)]
    counts = [[0] * 24 for _ in range(7)]
    for day, hour, n, m in conn.execute(
        select(weekday, ht.c.hour, cast(func.sum(ht.c.plays), BigInteger), ms_sum)
        .where(*conditions)
        .group_by(weekday, ht.c.hour)
    ):
        ms[day][hour] += m
        counts[day][hour] += n
    if period.end_utc > found.cutoff:
        for cell in day_hour_grid(conn, _after_cutoff(scope, period, found), period):
            per_day[cell.day] = per_day.get(cell.day, 0) + cell.ms_played
            ms[(cell.day + 3) % 7][cell.hour] += cell.ms_played
            counts[(cell.day + 3) % 7][cell.hour] += cell.plays
    return per_day, clock_document(ms, counts)
