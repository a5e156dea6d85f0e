"""The database: schema, migrations, opening, and the small shared write helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, Engine, func, inspect, select
from sqlalchemy.exc import DBAPIError, OperationalError

from brapped.config import mask_url
from brapped.store import tables
from brapped.store.engine import StoreError, make_engine, parse_url
from brapped.store.schema import current_revision, head_revision, upgrade

__all__ = ["Store", "StoreError", "StoreInfo", "open_store", "tables"]

T = TypeVar("T")


@dataclass(frozen=True)
class StoreInfo:
    url: str  # password masked
    dialect: str
    revision: str | None
    head: str
    tables: dict[str, int]

    @property
    def up_to_date(self) -> bool:
        return self.revision == self.head


class Store:
    """An open brapped database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        """The URL with the password masked."""
        return mask_url(self.engine.url.render_as_string(hide_password=False))

    @contextmanager
    def begin(self, *, immediate: bool = False) -> Iterator[Connection]:
        """One transaction. `immediate` takes SQLite's write lock at BEGIN (no-op on PostgreSQL)."""
        with self.engine.connect() as connection:
            if immediate:
                connection.info["immediate"] = True
            try:
                with connection.begin():
                    yield connection
            finally:
                connection.info.pop("immediate", None)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection

    def upgrade(self) -> tuple[str | None, str | None]:
        """Apply pending migrations; returns (revision before, revision after)."""
        return _guard(lambda: upgrade(self.engine), self.url)

    def info(self) -> StoreInfo:
        def read() -> StoreInfo:
            with self.engine.connect() as connection:
                revision = current_revision(connection)
                existing = set(inspect(connection).get_table_names())
                counts = {
                    table.name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
                    for table in tables.TABLES_IN_ORDER
                    if table.name in existing
                }
            return StoreInfo(self.url, self.dialect, revision, head_revision(), counts)

        return _guard(read, self.url)

    def close(self) -> None:
        self.engine.dispose()


def _guard(action: Callable[[], T], url: str) -> T:
    try:
        return action()
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot use database {url}: {reason}") from exc
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"database error on {url}: {reason}") from exc


def open_store(url: str, *, migrate: bool = True, memory_map: bool = True) -> Store:
    """Open the database at `url`, applying pending migrations unless `migrate` is False.
    `memory_map`: SQLite reads through a memory map of the file (`engine.make_engine`)."""
    parse_url(url)  # fail fast, with a readable message, on a malformed URL
    store = Store(make_engine(url, memory_map=memory_map))
    if migrate:
        store.upgrade()
    else:
        _guard(lambda: store.engine.connect().close(), store.url)
    return store
