"""A bulk load as the import sees it: the store's bulk session, the files loaded in it so far, and
what the next files need not do again (docs/merge.md, "Atomicity and concurrency")."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select

from brapped.pipeline.import_plan import BulkPolicy
from brapped.pipeline.import_report import FileReport
from brapped.pipeline.import_rows import Dimension, NotedDimensions
from brapped.store import Store, bulk_session, staged_plays
from brapped.store.known_files import NotedFile, remember_files
from brapped.store.tables import plays


@dataclass
class BulkLoad:
    """The one transaction of a bulk load and the files it holds so far."""

    conn: Connection
    loaded: list[FileReport] = field(default_factory=list)
    # Track, album and artist fields the files loaded so far staged (`import_rows.Dimension`):
    # stored in this very transaction, so the next files need not stage them again.
    dimensions: NotedDimensions = field(default_factory=lambda: NotedDimensions(0))
    last_api: datetime | None = None  # the user's last API play when the load began
    # The files loaded, for `store.known_files`: noted together before the load commits.
    known: list[NotedFile] = field(default_factory=list)

    def api_after(self, since: datetime) -> bool:
        """Whether the user may have API plays ending at `since` or later (see `import_load`)."""
        return self.last_api is not None and self.last_api >= since

    def remember(self, dimensions: Iterable[Dimension]) -> None:
        """Note dimension fields a file staged (see `NotedDimensions`)."""
        self.dimensions.note(dimensions)


@contextmanager
def bulk_load(store: Store, user: str, policy: BulkPolicy) -> Iterator[BulkLoad]:
    """One transaction for the whole import (`bulk_session.bulk_session`), for `user`'s plays."""
    with bulk_session.bulk_session(store, policy.cache_kib) as session:
        conn = session.conn
        # Without its indexes, finding the user's API plays after each file's start reads `plays`
        # through: their last end, asked once here, rules most files out (an import never adds an
        # API play and holds the lock that sync takes, so there are no later ones).
        last_api = conn.execute(
            select(func.max(plays.c.played_at)).where(plays.c.user_id == user, plays.c.source == "api")
        ).scalar()
        load = BulkLoad(conn, dimensions=NotedDimensions(policy.dimensions_kept), last_api=last_api)
        yield load
        staged_plays.drop_stages(conn)  # the files' staging tables, which each file reused
        remember_files(conn, user, load.known)
