"""The report summaries' `hour_totals`: the plays before the cutoff summed per local day and hour.

Summing them turns every play's instant into a local hour: about a third of a rebuild, and it
needs only the plays. So a rebuild on a database that a second connection can read (not SQLite in
memory) sums the hours there, in a thread, while its own connection builds the other summaries;
it then inserts the few thousand sums (`HourSums`). Otherwise, or when that reading fails, it sums
them in its own transaction (`build_hours`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, literal_column, select

from brapped.insights.period import LocalTime, Period, int_literal, zone
from brapped.insights.scope import Scope
from brapped.store.tables import hour_totals, plays

log = logging.getLogger(__name__)

COLUMNS = ("user_id", "day", "hour", "plays", "streams", "ms_played")


def _sums(timezone: str, threshold: int, first: datetime, cutoff: datetime) -> Iterator[Select[Any]]:
    """The sums of the plays from `first` to before `cutoff` per account, local day and hour
    (`COLUMNS`), a statement per local year.

    A year at a time keeps the zone's offset expression to that year's few transitions (over all
    of a long history it would test dozens per play); years start at local midnight, so no local
    day is split between two statements (its hours are the table's key).
    """
    tz = zone(timezone)
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
        yield select(
            sums.c.user_id,
            (sums.c.local_hour // int_literal(24)).label("day"),
            (sums.c.local_hour % int_literal(24)).label("hour"),
            sums.c.plays,
            sums.c.streams,
            sums.c.ms_played,
        )
        year += 1


def build_hours(conn: Connection, timezone: str, threshold: int, first: datetime, cutoff: datetime) -> int:
    """Sum the plays before `cutoff` into `hour_totals` in `conn`'s transaction; returns rows."""
    total = 0
    for query in _sums(timezone, threshold, first, cutoff):
        total += conn.execute(insert(hour_totals).from_select(list(COLUMNS), query)).rowcount or 0
    return total


class HourSums:
    """The hours summed on a connection of their own, in a thread, while the caller builds the
    other summaries; `insert` puts them into `hour_totals` in the caller's transaction.

    The connection must see the plays the caller's transaction sees: it is opened after that
    transaction took the write lock (SQLite) or locked `plays` against writers (PostgreSQL), and
    the caller does not change a play before `insert`.
    """

    def __init__(
        self,
        connect: Callable[[], AbstractContextManager[Connection]],
        timezone: str,
        threshold: int,
        first: datetime,
        cutoff: datetime,
    ) -> None:
        self._args = (timezone, threshold, first, cutoff)
        self._pool = ThreadPoolExecutor(1, "brapped-summary-hours")
        self._rows: Future[list[tuple[Any, ...]]] = self._pool.submit(self._read, connect)

    def _read(self, connect: Callable[[], AbstractContextManager[Connection]]) -> list[tuple[Any, ...]]:
        with connect() as reader:
            return [tuple(row) for query in _sums(*self._args) for row in reader.execute(query)]

    def insert(self, conn: Connection) -> int:
        """Insert the sums read (or, should reading them have failed, sum them on `conn`)."""
        try:
            rows = self._rows.result()
        except Exception as exc:  # whatever kept the other connection from them: summed here
            log.debug("hour sums not read alongside: %s", (str(exc).splitlines() or [repr(exc)])[0])
            return build_hours(conn, *self._args)
        finally:
            self._pool.shutdown()
        if rows:
            conn.execute(insert(hour_totals), [dict(zip(COLUMNS, row, strict=True)) for row in rows])
        return len(rows)

    def close(self) -> None:
        """Wait for the reading to end and drop what it read (the caller's rebuild failed)."""
        self._pool.shutdown(cancel_futures=True)
