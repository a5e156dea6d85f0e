"""What a report looks at: whose plays, which instants, and the rules that turn plays into numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    and_,
    case,
    func,
    insert,
    select,
    true,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement as Col
from sqlalchemy.sql.functions import FunctionElement

from brapped.insights.period import Period, int_literal, utc_offset
from brapped.store.tables import artists, plays
from brapped.store.types import epoch_ms

# Spotify's compilation pseudo-artist: never a top artist (matched by id and by name).
VARIOUS_ARTISTS_ID = "0LyfQWJT6nXafLPZqxe9Of"
VARIOUS_ARTISTS_NAME = "various artists"


@dataclass(frozen=True)
class Scope:
    """Whose plays and from when to when; `None` means every account / all time."""

    user_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None  # exclusive
    stream_threshold_ms: int = 30_000

    @classmethod
    def of(
        cls, period: Period | None, user_id: str | None = None, stream_threshold_ms: int = 30_000
    ) -> Scope:
        if period is None:
            return cls(user_id, None, None, stream_threshold_ms)
        return cls(user_id, period.start_utc, period.end_utc, stream_threshold_ms)

    def where(self, table: Any = plays, *, by_instant: bool = True) -> ColumnElement[bool]:
        """The WHERE clause selecting this scope's rows of `plays` (or `episode_plays`).

        `by_instant=False`: SQLite may not use an index of `played_at` for it (the same rows).
        """
        conditions: list[ColumnElement[bool]] = []
        if self.user_id is not None:
            conditions.append(table.c.user_id == self.user_id)
        instant = table.c.played_at if by_instant else unindexed(table.c.played_at)
        if self.start is not None:
            conditions.append(instant >= self.start)
        if self.end is not None:
            conditions.append(instant < self.end)
        return and_(true(), *conditions)

    def ms(self, table: Any = plays) -> Col[int]:
        """Milliseconds of a play, 0 when unknown."""
        return func.coalesce(table.c.ms_played, 0)

    def is_stream(self, table: Any = plays) -> Col[int]:
        """1 when the play lasted at least the stream threshold, else 0 (unknown time: 0)."""
        return case((table.c.ms_played >= self.stream_threshold_ms, 1), else_=0)


class unindexed(FunctionElement[Any]):
    """A column that SQLite's planner may not look up in an index (`+column`); itself elsewhere."""

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)
        self.type = column.type  # values compared with it are bound as the column's type


@compiles(unindexed)
def _unindexed(element: unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(next(iter(element.clauses)), **kw)}"


class by_codepoint(FunctionElement[str]):
    """A text column ordered by code point on both databases (PostgreSQL's collation may differ)."""

    type = Text()
    inherit_cache = True


@compiles(by_codepoint)  # str() of a statement, and SQLite (BINARY is its default collation)
@compiles(by_codepoint, "sqlite")
def _codepoint_sqlite(element: by_codepoint, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(by_codepoint, "postgresql")
def _codepoint_pg(element: by_codepoint, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(next(iter(element.clauses)), **kw)}) COLLATE "C"'


def not_various_artists() -> ColumnElement[bool]:
    return and_(artists.c.id != VARIOUS_ARTISTS_ID, func.lower(artists.c.name) != VARIOUS_ARTISTS_NAME)


def minutes(ms: Any) -> float:
    """Milliseconds as minutes, to two decimals (the unit every report shows).

    Takes what the database returns: an int, None, or (PostgreSQL's SUM of BIGINT) a Decimal.
    """
    return round(int(ms or 0) / 60_000, 2)


def ratio(part: float, whole: float) -> float | None:
    """part / whole to four decimals, None when whole is zero."""
    return round(part / whole, 4) if whole else None


def change(current: float, previous: float) -> float | None:
    """Relative change from previous to current (0.25 = +25 %), None when previous is zero."""
    return round((current - previous) / previous, 4) if previous else None


PLAY_ORDER = ("user_id", "end_ms", "seq")
# Past this span a period's per-track sums read the whole track index (see `per_track`).
LONG_RANGE = timedelta(days=550)
# The end of a scope "from an instant on" that must still be a range for SQLite's planner (see
# `summaries.recent`): never a long range, whatever its span (the plays after a recent instant).
OPEN_END = datetime(9999, 1, 1, tzinfo=UTC)


def period_plays(scope: Scope, period: Period) -> Select[Any]:
    """The scope's plays as narrow rows, with what reports compute per play done once.

    Materialised (`materialized`), it is the one read of `plays` a many-part report (Wrapped)
    makes: the per-track, per-day and per-hour sums, sessions and the skip rate all read this
    table instead of each parsing the stored instants and shifting them to local time again.
    Materialise it with `numbered_by=PLAY_ORDER`: column `n` numbers the plays 1, 2, ... by
    account, then end, then `seq`. Columns: `seq` (the play's id), `user_id`, `track_id`, `end_ms`
    (epoch milliseconds of `played_at`, when the play ended), `offset_s` (the zone's UTC offset
    then: `local_day` and `local_hour` turn both into the local day and hour), `ms` (0 when
    unknown), `stream`, `measured_ms`, `estimated_ms`, `unknown` (1 when `ms_played` is unknown)
    and `skipped` (1, 0 or NULL when the source does not say).
    """
    ms = scope.ms()
    return select(
        plays.c.id.label("seq"),
        plays.c.user_id,
        plays.c.track_id,
        epoch_ms(plays.c.played_at).label("end_ms"),
        # The offset alone, not local time: local time would parse the stored instant a second
        # time per play (SQLite), the costliest part of this pass.
        utc_offset(plays.c.played_at, period.timezone, period.start_utc, period.end_utc).label("offset_s"),
        ms.label("ms"),
        scope.is_stream().label("stream"),
        case((plays.c.ms_played_source == "export", ms), else_=0).label("measured_ms"),
        case((plays.c.ms_played_source == "estimate", ms), else_=0).label("estimated_ms"),
        case((plays.c.ms_played.is_(None), 1), else_=0).label("unknown"),
        case((plays.c.skipped.is_(True), 1), (plays.c.skipped.is_(False), 0)).label("skipped"),
    ).where(scope.where())


def local_day(pp: FromClause) -> ColumnElement[int]:
    """The local day number (`LocalTime.day`) of a `period_plays` row."""
    return _local_s(pp) // int_literal(86_400)


def local_hour(pp: FromClause) -> ColumnElement[int]:
    """The local hour (0-23) of a `period_plays` row."""
    return (_local_s(pp) % int_literal(86_400)) // int_literal(3600)


def _local_s(pp: FromClause) -> ColumnElement[int]:
    # Integer division of positive epochs: floor on both databases.
    return pp.c.end_ms // int_literal(1000) + pp.c.offset_s


def per_track(scope: Scope, source: FromClause | None = None) -> Select[Any]:
    """One row per track played in the scope with its sums: the small table most reports start from.

    Aggregating plays by track first, then joining the 10-50x fewer rows to credits, albums and
    genres, is what keeps a year of a heavy listener under a second on SQLite. `source`: the
    scope's `period_plays` already materialised (then `plays` is not read again).
    """
    if source is not None:
        return select(
            source.c.track_id.label("track_id"),
            func.count().label("plays"),
            func.sum(source.c.stream).label("streams"),
            func.sum(source.c.ms).label("ms_played"),
            func.sum(source.c.measured_ms).label("measured_ms"),
            func.sum(source.c.estimated_ms).label("estimated_ms"),
            func.sum(source.c.unknown).label("unknown_plays"),
        ).group_by(source.c.track_id)
    ms = scope.ms()
    # SQLite's planner (no statistics) takes any two-sided range of played_at through its index,
    # looking up every play's row and sorting them by track: 0.5 s for six years of a
    # 1,000,000-play history. Past a year and a half, the (track_id, played_at, ms_played, ...)
    # index read whole is faster (in track order, every column in it: 0.13 s whatever the range).
    long_range = (
        scope.start is not None
        and scope.end is not None
        and scope.end != OPEN_END
        and scope.end - scope.start > LONG_RANGE
    )
    return (
        select(
            plays.c.track_id.label("track_id"),
            func.count().label("plays"),
            func.sum(scope.is_stream()).label("streams"),
            func.sum(ms).label("ms_played"),
            func.sum(case((plays.c.ms_played_source == "export", ms), else_=0)).label("measured_ms"),
            func.sum(case((plays.c.ms_played_source == "estimate", ms), else_=0)).label("estimated_ms"),
            func.sum(case((plays.c.ms_played.is_(None), 1), else_=0)).label("unknown_plays"),
        )
        .where(scope.where(by_instant=not long_range))
        .group_by(plays.c.track_id)
    )


PER_TRACK_COLUMNS = ("plays", "streams", "ms_played", "measured_ms", "estimated_ms", "unknown_plays")


@contextmanager
def materialized(
    conn: Connection, query: Select[Any], *, numbered_by: Sequence[str] = (), sqlite_index: str | None = None
) -> Iterator[Table]:
    """`query`'s rows in a temporary table, for several reports to share one pass over plays.

    Columns named `*_id` or `name` are text, every other column an integer. Dropped on exit: pooled
    connections outlive the report. `numbered_by`: also number the rows 1, 2, ... in the order of
    these columns, as an integer column `n`. `sqlite_index`: a column to index on SQLite, for a
    table that several statements join by it (SQLite would build a throwaway index for each;
    PostgreSQL hashes instead, and an index there costs more than it saves).
    """
    columns = [
        Column(c.name, String(64) if c.name.endswith("_id") else Text if c.name == "name" else BigInteger)
        for c in query.selected_columns
    ]
    if numbered_by:
        sub = query.subquery()
        order = [sub.c[name] for name in numbered_by]
        if conn.dialect.name == "sqlite":
            # The table's rowid: SQLite inserts an ordered SELECT's rows in that order, each with
            # the next rowid. A window function here would cost more than the rest of the insert.
            columns.insert(0, Column("n", Integer, primary_key=True, autoincrement=False))
            query = select(sub).order_by(*order)
        else:
            columns.insert(0, Column("n", BigInteger))
            query = select(func.row_number().over(order_by=order).label("n"), sub)
    # Named by nesting depth on this connection, not at random: the same report then builds the
    # same statements, which SQLAlchemy compiles once and caches.
    depth = conn.info.get("brapped_materialized", 0)
    table = Table(f"brapped_tmp_{depth}", MetaData(), *columns, prefixes=["TEMPORARY"])
    conn.info["brapped_materialized"] = depth + 1
    try:
        # A table left by a report that failed halfway on this pooled connection is in the way.
        schema = "pg_temp" if conn.dialect.name == "postgresql" else "temp"
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {schema}.{table.name}")
        table.create(conn)
        try:
            conn.execute(insert(table).from_select([c.name for c in query.selected_columns], query))
            if sqlite_index is not None and conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f"CREATE INDEX temp.ix_{table.name} ON {table.name} ({sqlite_index})")
            _analyze(conn, table.name)
            yield table
        except BaseException:
            # On PostgreSQL a failed statement aborts the transaction: the DROP would fail too and
            # hide the real error (the rollback that follows removes the table anyway).
            with suppress(SQLAlchemyError):
                table.drop(conn)
            raise
        table.drop(conn)
    finally:
        conn.info["brapped_materialized"] = depth


def _analyze(conn: Connection, name: str) -> None:
    # Nothing analyses temporary tables (PostgreSQL's autovacuum skips them, SQLite never gathers
    # statistics on its own): without them both planners guess badly for the joins that follow;
    # SQLite then scans a whole dimension table and builds an automatic index on this one
    # (measured 4x slower on a year of a 1M-play history).
    if conn.dialect.name == "postgresql":
        # A small sample (3,000 rows) is enough to choose join orders: the default one costs
        # ~65 ms on a year of plays, this one ~5 ms.
        conn.exec_driver_sql("SET default_statistics_target = 10")
        conn.exec_driver_sql(f"ANALYZE {name}")
        conn.exec_driver_sql("RESET default_statistics_target")
    else:
        conn.exec_driver_sql(f"ANALYZE {name}")


T = TypeVar("T")


def alongside(conn: Connection, work: Callable[[Connection], T]) -> Callable[[], T]:
    """Start `work` on a second connection to `conn`'s database, in a thread; call the result to
    wait for its answer.

    For parts of a report that need nothing the caller's connection made (its temporary tables,
    its uncommitted writes): the database computes them on another core meanwhile (SQLite
    releases the GIL while it works; PostgreSQL runs another backend). An in-memory SQLite
    database exists once per connection: there `work` runs on `conn`, when the answer is asked for.
    """
    url = conn.engine.url
    if conn.dialect.name == "sqlite" and (url.database in (None, "", ":memory:") or "memory" in str(url)):
        return lambda: work(conn)

    def run() -> T:
        with conn.engine.connect() as other:
            return work(other)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brapped-report")
    future = pool.submit(run)
    pool.shutdown(wait=False)  # the thread ends with `run`
    return future.result
