"""Column types and SQL expressions whose storage differs between SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import BigInteger, Float, TypeDecorator, TypeEngine

# SQLite keeps instants as text that sorts chronologically, that SQLite's date functions read
# and that BI tools show as a time: "2026-01-26 04:13:50.392" (always UTC, always milliseconds).
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S"


def to_utc_ms(value: datetime) -> datetime:
    """An aware datetime in UTC, truncated to milliseconds (the precision brapped stores)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: brapped only stores timezone-aware instants")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC instant in milliseconds: timestamptz(3) on PostgreSQL, sortable text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True, precision=3))
        return dialect.type_descriptor(String(23))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = to_utc_ms(value)
        if dialect.name == "postgresql":
            return value
        return value.strftime(SQLITE_FORMAT) + f".{value.microsecond // 1000:03d}"

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        assert isinstance(value, datetime)
        return value.astimezone(UTC)


def _whole_seconds(arg: str) -> str:
    """Whole seconds since 1970 of a stored instant, in SQLite SQL."""
    # unixepoch() (SQLite 3.38+) returns the integer directly, without formatting it as text with
    # strftime and casting it back (docs/decisions.md).
    if sqlite3.sqlite_version_info >= (3, 38):
        return f"unixepoch({arg})"
    return f"CAST(strftime('%s', {arg}) AS INTEGER)"


class epoch_seconds(FunctionElement[float]):
    """Seconds since 1970 of a UTCDateTime column, as a number, on either database."""

    type = Float()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    # strftime('%s') drops the milliseconds; they are the text's last three digits. (julianday would
    # keep them but its floating point puts plays on an hour's boundary into the previous hour.)
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"({_whole_seconds(arg)} + CAST(substr({arg}, 21, 3) AS INTEGER) / 1000.0)"


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"CAST(EXTRACT(EPOCH FROM {arg}) AS DOUBLE PRECISION)"


def epoch(column: ColumnElement[Any]) -> ColumnElement[float]:
    """`epoch_seconds(column)` with a friendlier signature."""
    return epoch_seconds(column)


class epoch_milliseconds(FunctionElement[int]):
    """Milliseconds since 1970 of a UTCDateTime column, as an exact integer, on either database."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_milliseconds, "sqlite")
def _epoch_ms_sqlite(element: epoch_milliseconds, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"({_whole_seconds(arg)} * 1000 + CAST(substr({arg}, 21, 3) AS INTEGER))"


@compiles(epoch_milliseconds, "postgresql")
def _epoch_ms_pg(element: epoch_milliseconds, compiler: Any, **kw: Any) -> str:
    # EXTRACT gives a numeric with the stored milliseconds exactly; ROUND only drops the scale.
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"CAST(ROUND(EXTRACT(EPOCH FROM {arg}) * 1000) AS BIGINT)"


def epoch_ms(column: ColumnElement[Any]) -> ColumnElement[int]:
    """`epoch_milliseconds(column)`: integer arithmetic for windows over many rows (no floats)."""
    return epoch_milliseconds(column)
