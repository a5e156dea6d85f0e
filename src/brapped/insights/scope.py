"""What a report looks at: whose plays, which instants, and the rules that turn plays into numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
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

from brapped.insights.period import Period
from brapped.store.engine import shares_database
from brapped.store.staged_plays import fill_table
from brapped.store.tables import artists, plays, track_artists

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


def credit_not_various() -> ColumnElement[bool]:
    """For a query joined to `track_artists`: the credit is not Various Artists, left out by id
    (a few rows), not by a lookup of every credit's artist name."""
    return track_artists.c.artist_id.not_in(select(artists.c.id).where(~not_various_artists()))


def account_bounds(conn: Connection, table: Any) -> tuple[Any, Any]:
    """The lowest and highest account id of `table` (keyed by `user_id` first): both ends of its
    index, each its own subquery (SQLite reads a lone min() or max() off an index, but both in one
    select scan it)."""
    lowest, highest = conn.execute(
        select(
            select(func.min(table.c.user_id)).scalar_subquery(),
            select(func.max(table.c.user_id)).scalar_subquery(),
        )
    ).one()
    return lowest, highest


def one_account(conn: Connection, table: Any) -> bool:
    """Whether `table` (keyed by `user_id` first) holds rows of exactly one account."""
    lowest, highest = account_bounds(conn, table)
    return lowest is not None and lowest == highest


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


@contextmanager
def materialized(
    conn: Connection,
    query: Select[Any],
    *,
    numbered_by: Sequence[str] = (),
    sqlite_index: str | None = None,
    small: Sequence[str] = (),
    analyze: bool = True,
) -> Iterator[Table]:
    """`query`'s rows in a temporary table, for several reports to share one pass over plays.

    Columns named `*_id` or `name` are text, every other column an integer. Dropped on exit: pooled
    connections outlive the report. `numbered_by`: also number the rows 1, 2, ... in the order of
    these columns, as an integer column `n`. `sqlite_index`: a column to index on SQLite, for a
    table that several statements join by it (SQLite would build a throwaway index for each;
    PostgreSQL hashes instead, and an index there costs more than it saves). `small`: integer
    columns whose every value fits 32 bits (PostgreSQL sums those as BIGINT, not NUMERIC, and
    the rows are narrower). `analyze=False`: no statistics, for a table that is only scanned
    (grouped, summed): they would cost more than they could change.
    """
    columns = [_column(c.name, c.name in small) for c in query.selected_columns]
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

    def fill(table: Table) -> None:
        conn.execute(insert(table).from_select([c.name for c in query.selected_columns], query))
        if sqlite_index is not None and conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"CREATE INDEX temp.ix_{table.name} ON {table.name} ({sqlite_index})")

    with _temporary(conn, columns, fill, analyze) as table:
        yield table


@contextmanager
def materialized_rows(
    conn: Connection, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> Iterator[Table]:
    """`rows` (tuples of values for columns `names`, typed as in `materialized`) in a temporary
    table: the answer of a query run on another connection (`alongside`), for this one to join
    once (not analysed)."""
    columns = [_column(name) for name in names]

    def fill(table: Table) -> None:
        # COPY on PostgreSQL, many rows a statement on SQLite: a statement per row costs more
        # than the query that computed them.
        if rows:
            fill_table(conn, table.name, names, rows)

    with _temporary(conn, columns, fill, analyze=False) as table:
        yield table


def _column(name: str, small: bool = False) -> Column[Any]:
    if name.endswith("_id"):
        return Column(name, String(64))
    return Column(name, Text if name == "name" else Integer if small else BigInteger)


@contextmanager
def _temporary(
    conn: Connection, columns: list[Column[Any]], fill: Callable[[Table], None], analyze: bool = True
) -> Iterator[Table]:
    """A temporary table of `columns` filled by `fill`, analysed (unless not `analyze`), dropped
    on exit."""
    depth = conn.info.get("brapped_materialized", 0)
    table = _table(f"brapped_tmp_{depth}", tuple((c.name, type(c.type), c.primary_key) for c in columns))
    conn.info["brapped_materialized"] = depth + 1
    try:
        # A table left by a report that failed halfway on this pooled connection is in the way.
        schema = "pg_temp" if conn.dialect.name == "postgresql" else "temp"
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {schema}.{table.name}")
        table.create(conn)
        try:
            fill(table)
            if analyze:
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


@lru_cache(maxsize=256)
def _table(name: str, columns: tuple[tuple[str, type[Any], bool], ...]) -> Table:
    """The temporary table `name` with `columns` (name, type, primary key): one object for every
    report that makes it. Named by nesting depth on the connection, not at random, and the same
    object each time: the same report then builds the same statements, which SQLAlchemy compiles
    once and caches (a statement's cache key holds its tables, as objects)."""
    made = [
        Column(n, String(64) if kind is String else kind(), primary_key=key, autoincrement=False)
        for n, kind, key in columns
    ]
    return Table(name, MetaData(), *made, prefixes=["TEMPORARY"])


def _analyze(conn: Connection, name: str) -> None:
    # Nothing analyses temporary tables (PostgreSQL's autovacuum skips them, SQLite never gathers
    # statistics on its own): without them both planners guess badly for the joins that follow;
    # SQLite then scans a whole dimension table and builds an automatic index on this one.
    if conn.dialect.name == "postgresql":
        # A small sample (3,000 rows) is enough to choose join orders, at a fraction of the cost.
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
    if not shares_database(conn.engine):
        return lambda: work(conn)

    def run() -> T:
        with conn.engine.connect() as other:
            return work(other)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brapped-report")
    future = pool.submit(run)
    pool.shutdown(wait=False)  # the thread ends with `run`
    return future.result
