"""Whole results of reports over closed periods, kept in the database (revision 0008).

A year's Wrapped is some 25 statements over the year's plays, yet a past year's answer never
changes unless its plays, or the names, credits, albums, release dates, genres and episodes it
shows, change. brapped keeps such results in `kept_reports` and reads them back, on the dashboard
and in the CLI, instead of computing them again.

A result may be kept, and is read back, only while it cannot be wrong:

- the period is closed: it ends at or before the report summaries' cutoff (brapped.insights.
  rollups), so revision 0007's triggers mark the summaries stale the moment one of its plays,
  or of the plays before it (the previous period, discoveries), is added, changed or removed;
- the summaries exist and are not stale;
- `report_state.generation` is the one the result was computed under. Every summaries rebuild
  moves it on (a stale state only ends with a rebuild), and so do revision 0008's triggers on the
  catalogue: a changed track name or album, artist name, album name or release date, album
  credits, genres, an episode's names, an episode play before the cutoff;
- the code is the same: `code()` fingerprints this package's source and the time zone rules, so
  an upgrade that changes a report never reads a result of the old code.

The generation is read before the computation and stored with its result: a change committed
meanwhile leaves the kept result of an older generation, which is never read.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import zoneinfo
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from brapped import __version__
from brapped.insights.period import Period
from brapped.insights.rollups import state
from brapped.store.engine import SQLITE_BUSY_TIMEOUT_MS
from brapped.store.tables import hour_totals, kept_reports, report_state, track_totals

log = logging.getLogger(__name__)

# Enough for every year of a long history and a few custom ranges per setting; the oldest go first.
MAX_KEPT = 64
# A kept result only saves time: its write must not wait long behind an import holding the lock.
WRITE_WAIT_MS = 250


@cache
def code() -> str:
    """A fingerprint of brapped's version, of the source of the reports (this package) and of the
    time zone rules in use (an update of them can move old plays to another local day)."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(_zone_rules().encode())
    return digest.hexdigest()[:32]


def _zone_rules() -> str:
    """The versions of the time zone databases zoneinfo may read: the system's, then the tzdata
    package's (either may be missing)."""
    versions = []
    for folder in zoneinfo.TZPATH:
        index = Path(folder) / "tzdata.zi"
        if index.is_file():
            with index.open(encoding="utf-8", errors="replace") as lines:
                versions.append(lines.readline().strip())
            break
    with suppress(ImportError, AttributeError):
        versions.append(str(importlib.import_module("tzdata").IANA_VERSION))
    return " / ".join(versions)


def key(kind: str, period: Period, **settings: Any) -> str:
    """The key of a report: its kind, period and settings, in one canonical text."""
    text = orjson.dumps(
        {"kind": kind, "period": period.as_dict(), **settings}, option=orjson.OPT_SORT_KEYS
    ).decode()
    return text


def generation(conn: Connection) -> int:
    """The current `report_state.generation`."""
    value = conn.execute(select(report_state.c.generation).where(report_state.c.id == 1)).scalar_one()
    return int(value)


def stamp(conn: Connection, period: Period) -> int | None:
    """The generation a result for `period` may be kept under, None when it may not be kept.

    None when the summaries are missing or stale, or when the period ends after their cutoff
    (plays there may still come and change).
    """
    found = state(conn)
    if found is None or found.stale or period.end_utc > found.cutoff:
        return None
    return generation(conn)


def in_use(conn: Connection) -> int:
    """How many kept results are current (of this generation and code)."""
    current = generation(conn)
    query = (
        select(func.count())
        .select_from(kept_reports)
        .where(kept_reports.c.generation == current, kept_reports.c.code == code())
    )
    return int(conn.execute(query).scalar_one())


def describe(conn: Connection) -> dict[str, Any]:
    """The summaries' state (brapped.insights.rollups) for `brapped status` and the health page,
    with the number of reports kept for closed periods that may be read (`in_use`)."""
    found = state(conn)
    if found is None:
        return {"built": False}
    return {
        "built": True,
        "stale": found.stale,
        "cutoff": found.cutoff,
        "timezone": found.timezone,
        "stream_threshold_ms": found.stream_threshold_ms,
        "built_at": found.built_at,
        "tracks": conn.execute(select(func.count()).select_from(track_totals)).scalar_one(),
        "hours": conn.execute(select(func.count()).select_from(hour_totals)).scalar_one(),
        "kept_reports": 0 if found.stale else in_use(conn),
    }


def find(conn: Connection, report_key: str, period: Period) -> dict[str, Any] | None:
    """The kept result for `report_key` if it is still valid, else None."""
    current = stamp(conn, period)
    if current is None:
        return None
    payload = conn.execute(
        select(kept_reports.c.payload).where(
            kept_reports.c.key == report_key,
            kept_reports.c.generation == current,
            kept_reports.c.code == code(),
        )
    ).scalar_one_or_none()
    if payload is None:
        return None
    result: dict[str, Any] = orjson.loads(payload)
    return result


def keep(
    conn: Connection,
    report_key: str,
    period: Period,
    computed_under: int,
    result: dict[str, Any],
    now: datetime,
) -> bool:
    """Store `result`, computed under generation `computed_under`, if it is still current.

    `conn`: a transaction that may write. Also forgets results of other generations or code, and
    the oldest beyond `MAX_KEPT`. False (nothing stored) when the data changed meanwhile.
    """
    if stamp(conn, period) != computed_under:
        return False
    conn.execute(delete(kept_reports).where(kept_reports.c.key == report_key))
    conn.execute(
        delete(kept_reports).where(
            (kept_reports.c.generation != computed_under) | (kept_reports.c.code != code())
        )
    )
    conn.execute(
        insert(kept_reports).values(
            key=report_key,
            generation=computed_under,
            code=code(),
            built_at=now,
            payload=orjson.dumps(result).decode(),
        )
    )
    count = conn.execute(select(func.count()).select_from(kept_reports)).scalar_one()
    if count > MAX_KEPT:
        oldest = (
            select(kept_reports.c.key)
            .order_by(kept_reports.c.built_at, kept_reports.c.key)
            .limit(int(count) - MAX_KEPT)
        )
        conn.execute(delete(kept_reports).where(kept_reports.c.key.in_(oldest.scalar_subquery())))
    return True


def through(
    conn: Connection,
    report_key: str,
    period: Period,
    compute: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """The kept result for `report_key`, or `compute()`'s, kept when the period is closed.

    `conn`: the connection `compute` reads from. The kept row is dated by the wall clock (it only
    orders rows for forgetting the oldest). The result is stored in a short transaction of
    its own (on `conn`'s engine) that waits at most `WRITE_WAIT_MS` for the write lock; a failure
    to store is logged at DEBUG and costs only the next caller's time.
    """
    found = find(conn, report_key, period)
    if found is not None:
        return found
    computed_under = stamp(conn, period)
    result = compute()
    if computed_under is not None:
        try:
            _store(conn, report_key, period, computed_under, result, datetime.now(UTC))
        except (SQLAlchemyError, TypeError) as exc:  # TypeError: not JSON (a bug worth seeing in tests)
            log.debug("could not keep report %s: %s", report_key, str(exc).splitlines()[0])
    return result


def _store(
    reader: Connection,
    report_key: str,
    period: Period,
    computed_under: int,
    result: dict[str, Any],
    now: datetime,
) -> None:
    with reader.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        try:
            with conn.begin():
                # Set inside the (deferred) transaction: it holds no lock until its first write.
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {WRITE_WAIT_MS}")
                else:
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{WRITE_WAIT_MS}ms'")
                keep(conn, report_key, period, computed_under, result, now)
        finally:
            if sqlite:
                # Pooled connections keep their pragmas: give this one back as it was made.
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
