"""Rows written through a database driver directly, for bulk loads: SQLite many rows a statement,
PostgreSQL COPY's text form.

Shared by the store (its staging tables) and the import worker (its staging image and COPY text),
which must start quickly: this module imports neither SQLAlchemy nor the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

# Rows a statement of `insert_rows` takes at once (docs/decisions.md: staging binds few values).
_ROWS_A_STATEMENT = 32


def insert_rows(db: Any, table: str, width: int, rows: Iterable[Sequence[Any]]) -> None:
    """Insert `rows` (each `width` values, in the table's column order) into `table` of the sqlite3
    connection `db`: a statement of many rows (`INSERT ... VALUES (...), (...)`) at a time, so that
    SQLite steps once for each many."""
    flat = list(chain.from_iterable(rows))
    if len(flat) % width:
        raise ValueError(f"rows of {width} values expected for {table}")
    step = _ROWS_A_STATEMENT * width
    whole = len(flat) - len(flat) % step
    values = f"({', '.join('?' * width)})"
    if whole:
        statement = f"INSERT INTO {table} VALUES {', '.join([values] * _ROWS_A_STATEMENT)}"
        db.executemany(statement, (flat[i : i + step] for i in range(0, whole, step)))
    if whole < len(flat):
        rest = flat[whole:]
        db.execute(f"INSERT INTO {table} VALUES {', '.join([values] * (len(rest) // width))}", rest)


# COPY's text form (PostgreSQL): a value needs escaping only for these.
COPY_UNSAFE = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_value(value: Any) -> str:
    """A value in COPY's text form."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).translate(_COPY_ESCAPES)
