"""brapped's one JSON form, shared by the CLI's `--format json`, the dashboard API and report files:
UTC instants in ISO 8601 ending in Z, dates as ISO days, decimals as numbers.

`bulk_rows` beside it writes rows for bulk loads (COPY text, many rows a statement)."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, overload

import orjson

Timespec = Literal["auto", "seconds", "milliseconds"]


@overload
def instant_text(value: datetime, timespec: Timespec = "milliseconds") -> str: ...
@overload
def instant_text(value: None, timespec: Timespec = "milliseconds") -> None: ...
def instant_text(value: datetime | None, timespec: Timespec = "milliseconds") -> str | None:
    """An instant as ISO 8601 text, UTC written as Z ("2026-01-26T04:13:50.392Z"); None stays None.

    `timespec` as in `datetime.isoformat`: files, run records and sync output use milliseconds (the
    precision brapped stores), the JSON form "auto" (microseconds only when there are some).
    """
    if value is None:
        return None
    return value.isoformat(timespec=timespec).replace("+00:00", "Z")


def json_default(value: Any) -> Any:
    """orjson's `default`: what brapped's data holds besides plain JSON types."""
    if isinstance(value, datetime):
        return instant_text(value, "auto")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if hasattr(value, "_asdict"):
        return value._asdict()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_bytes(data: Any, *, indent: bool = False) -> bytes:
    """`data` as JSON bytes in brapped's form; `indent` for files and terminals."""
    options = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
    if indent:
        options |= orjson.OPT_INDENT_2
    return orjson.dumps(data, default=json_default, option=options)
