"""Copy a brapped database to another one (SQLite <-> PostgreSQL), resumably, and prove it worked.

The target is schema-upgraded first. Tables are copied in foreign-key order, in batches read from the
source by keyset pagination on the primary key; each batch is one transaction on the target inserted
with ON CONFLICT DO NOTHING, so a re-run (after a kill, or to catch up) copies nothing twice. The end
is a verification: per table, the row count and a checksum computed the same way on both sides.

Checksums are a sum (mod 2**128) of the SHA-256 of each canonicalised row, so they do not depend on
row order: SQLite and PostgreSQL sort text keys differently (binary vs. collation), and an
order-independent digest lets each side stream its rows in whatever order its index gives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, func, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Select

from brapped.clock import Clock
from brapped.errors import BrappedError
from brapped.store import Store, tables
from brapped.store.runs import record_run
from brapped.store.schema import current_revision, head_revision
from brapped.store.types import to_utc_ms

# Locks belong to a running process on one database; copying one would block the target's scheduler.
SKIPPED_TABLES = frozenset({"locks"})
# Autoincrement ids copied verbatim; PostgreSQL's sequences must then be moved past them.
_SERIAL_TABLES = ("plays", "episode_plays", "runs", "gaps", "imported_files")
_MOD = 2**128

Progress = Callable[[str, int, int], None]  # (table, rows done, rows in source table)


class TransferError(BrappedError):
    """The copy cannot start (same database, source not at the current schema, ...)."""


@dataclass(frozen=True)
class TableCheck:
    """Verification of one table."""

    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str
    copied: int

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


@dataclass(frozen=True)
class TransferResult:
    """What `copy_database` did, table by table; `ok` when every table verified."""

    source: str
    target: str
    started_at: datetime
    finished_at: datetime
    tables: list[TableCheck] = field(default_factory=list)
    run_id: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.tables)

    @property
    def copied(self) -> int:
        return sum(check.copied for check in self.tables)

    def counts(self) -> dict[str, Any]:
        """The result as a JSON-ready mapping (stored in `runs.counts`)."""
        return {
            "source": self.source,
            "target": self.target,
            "ok": self.ok,
            "copied": self.copied,
            "warnings": self.warnings,
            "tables": {
                c.table: {
                    "source_rows": c.source_rows,
                    "target_rows": c.target_rows,
                    "copied": c.copied,
                    "source_checksum": c.source_checksum,
                    "target_checksum": c.target_checksum,
                    "ok": c.ok,
                }
                for c in self.tables
            },
        }


def copied_tables() -> list[Table]:
    """The tables `copy_database` copies, in foreign-key order."""
    return [t for t in tables.TABLES_IN_ORDER if t.name not in SKIPPED_TABLES]


def canonical(value: Any) -> Any:
    """A value in the one form both databases agree on (instants in UTC milliseconds, ISO text)."""
    if isinstance(value, datetime):
        return to_utc_ms(value).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def row_digest(row: Sequence[Any]) -> int:
    """128 bits of the SHA-256 of a canonicalised row."""
    payload = orjson.dumps([canonical(v) for v in row])
    return int.from_bytes(hashlib.sha256(payload).digest()[:16], "big")


def _excluded(table: Table) -> Any:
    # The target's own migrate records are not part of the copy: they would make every re-run
    # and every round trip look different.
    if table.name == "runs":
        return table.c.kind != "migrate"
    return None


def _pk(table: Table) -> list[Any]:
    return list(table.primary_key.columns)


def _ordered(table: Table) -> Select[Any]:
    query = select(*table.columns).order_by(*_pk(table))
    where = _excluded(table)
    return query.where(where) if where is not None else query


def _batches(conn: Connection, table: Table, batch_size: int) -> Iterator[list[Any]]:
    """Rows of `table` in primary-key order, `batch_size` at a time, by keyset pagination."""
    pk = _pk(table)
    positions = [list(table.columns).index(c) for c in pk]
    last: tuple[Any, ...] | None = None
    while True:
        query = _ordered(table)
        if last is not None:
            query = query.where(tuple_(*pk) > tuple_(*last)) if len(pk) > 1 else query.where(pk[0] > last[0])
        rows = conn.execute(query.limit(batch_size)).all()
        if not rows:
            return
        yield list(rows)
        last = tuple(rows[-1][i] for i in positions)
        if len(rows) < batch_size:
            return


def table_checksum(conn: Connection, table: Table, batch_size: int = 5000) -> tuple[int, str]:
    """(row count, checksum) of a table, streamed; identical on SQLite and PostgreSQL for equal rows."""
    count, total = 0, 0
    for rows in _batches(conn, table, batch_size):
        for row in rows:
            total = (total + row_digest(row)) % _MOD
        count += len(rows)
    return count, f"{total:032x}"


def _count(conn: Connection, table: Table) -> int:
    query = select(func.count()).select_from(table)
    where = _excluded(table)
    if where is not None:
        query = query.where(where)
    return int(conn.execute(query).scalar_one())


def _insert_ignoring_present(conn: Connection, table: Table, rows: list[Mapping[str, Any]]) -> None:
    # ON CONFLICT DO NOTHING without a target skips a row that clashes with ANY unique key: the same
    # primary key from an earlier run, or the same play already synced into the target.
    if conn.dialect.name == "postgresql":
        conn.execute(postgresql.insert(table).on_conflict_do_nothing(), rows)
    else:
        conn.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)


def _advance_sequences(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return  # SQLite gives the next rowid after the largest one present
    for name in _SERIAL_TABLES:
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {name}), 1), "
                f"(SELECT MAX(id) FROM {name}) IS NOT NULL)"
            )
        )


def _same_database(source: Store, target: Store) -> bool:
    a, b = source.engine.url, target.engine.url
    return (a.get_backend_name(), a.host, a.port, a.database) == (
        b.get_backend_name(),
        b.host,
        b.port,
        b.database,
    )


def copy_database(
    source: Store,
    target: Store,
    clock: Clock,
    *,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> TransferResult:
    """Copy every table from `source` to `target`, verify, and record a `migrate` run in the target.

    Safe to re-run: rows already in the target are skipped. The source is only read.
    """
    if batch_size < 1:
        raise TransferError("batch size must be at least 1")
    if _same_database(source, target):
        raise TransferError(f"source and target are the same database ({source.url})")
    with source.connect() as conn:
        revision = current_revision(conn)
    if revision != head_revision():
        raise TransferError(
            f"source {source.url} is at schema revision {revision or 'none'}, this brapped needs "
            f"{head_revision()}: run `brapped --db SOURCE db upgrade` first"
        )
    started = clock.now()
    warnings = []
    with source.connect() as conn:
        holders = (
            conn.execute(select(tables.locks.c.owner).where(tables.locks.c.expires_at > started))
            .scalars()
            .all()
        )
    if holders:
        # Not refused: the holder may be a crashed scheduler whose lock has not expired yet.
        warnings.append(
            f"a scheduler ({', '.join(holders)}) holds a lock on the source: it may change the data "
            "during the copy; stop it and run migrate again to catch up"
        )
    target.upgrade()
    copied: dict[str, int] = {}
    with source.connect() as src:
        for table in copied_tables():
            total = _count(src, table)
            with target.connect() as tgt:
                before = _count(tgt, table)
            done = 0
            if progress:
                progress(table.name, done, total)
            for rows in _batches(src, table, batch_size):
                with target.begin() as tgt:
                    _insert_ignoring_present(tgt, table, [dict(r._mapping) for r in rows])
                done += len(rows)
                if progress:
                    progress(table.name, done, total)
            with target.connect() as tgt:
                copied[table.name] = _count(tgt, table) - before
    with target.begin() as tgt:
        _advance_sequences(tgt)
    checks = verify(source, target, copied)
    finished = clock.now()
    result = TransferResult(source.url, target.url, started, finished, checks, None, warnings)
    # IMMEDIATE: start_run reads the running runs before it writes (see store.runs).
    with target.begin(immediate=True) as tgt:
        run_id = record_run(
            tgt,
            "migrate",
            started,
            finished,
            "ok" if result.ok else "failed",
            result.counts(),
            None if result.ok else "verification failed: " + ", ".join(c.table for c in checks if not c.ok),
        )
    return TransferResult(source.url, target.url, started, finished, checks, run_id, warnings)


def verify(source: Store, target: Store, copied: Mapping[str, int] | None = None) -> list[TableCheck]:
    """Row counts and checksums of every copied table on both sides."""
    checks = []
    with source.connect() as src, target.connect() as tgt:
        for table in copied_tables():
            source_rows, source_sum = table_checksum(src, table)
            target_rows, target_sum = table_checksum(tgt, table)
            checks.append(
                TableCheck(
                    table.name,
                    source_rows,
                    target_rows,
                    source_sum,
                    target_sum,
                    (copied or {}).get(table.name, 0),
                )
            )
    return checks
