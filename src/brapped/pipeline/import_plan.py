"""How an import goes before any file loads: the order of its files, whose plays they are, and
whether it is a bulk load (`BulkPolicy`, passed in, holds the numbers that decide and tune it)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from brapped.errors import BrappedError
from brapped.imports import ImportFileError, Source
from brapped.store import Store
from brapped.store.tables import accounts, plays

DEFAULT_USER = "me"
_USERNAME = re.compile(rb'"username"\s*:\s*"([^"\\]{1,64})"')


@dataclass(frozen=True)
class BulkPolicy:
    """When an import is a bulk load, and how one runs (docs/merge.md, docs/decisions.md)."""

    # A load this big (plays estimated from the first file) and at least twice what is stored
    # already (so never a re-import, which adds nothing) goes in as one transaction with a
    # savepoint per file, the secondary indexes of `plays` dropped first and built at the end.
    min_plays: int = 100_000
    # Bytes of a file per play, to guess from sizes whether an import is a bulk load before a file
    # is read (extended history: about 750; account data: about 130, so a guess on the high side).
    bytes_per_play: int = 800
    # Tracks' fields (with their album's and artist's) a bulk load remembers as loaded (by a
    # hash, `import_rows.NotedDimensions`): past that, files stage all theirs, and memory stays
    # bounded whatever the history (docs/decisions.md, "The import's tail, again").
    dimensions_kept: int = 200_000
    # SQLite's page cache for a bulk load, in KiB: it keeps only the end-time index of `plays`
    # current, and that grows at its end; the import's memory, with its worker's, stays under
    # 300 MB. Past it, the load writes pages into the database file before its commit.
    cache_kib: int = 8_192
    # Worker processes that read and stage files ahead of the loader: a second one's ~100 MB
    # would take the import past its 300 MB memory target.
    workers: int = 1
    # Files a worker is given ahead: enough to keep it busy while a file loads. Each one waiting
    # is a few MB on SQLite (a staging image); on PostgreSQL its parsed rows, so one.
    sqlite_ahead: int = 2
    postgresql_ahead: int = 1
    # Files prepared or being prepared at once, in all: on SQLite the loader prepares one of the
    # next files itself rather than wait for the worker.
    held: int = 3
    # And their stated sizes together, past the first: what waits for the loader stays bounded
    # whatever the files' sizes (a file of unknown size counts as this much).
    held_bytes: int = 64 * 1024 * 1024
    # The largest file the loader parses itself (the first, which decides, or one of the next
    # while it waits) while the worker parses another: a parse takes about three times its file's
    # size while it lasts, and the loader keeps much of it, so bigger files are the worker's alone.
    parse_here_bytes: int = 16 * 1024 * 1024

    def prepared_ahead(self, dialect: str) -> int:
        """Files the worker may have in hand for a loader of `dialect`."""
        return self.postgresql_ahead if dialect == "postgresql" else self.sqlite_ahead


DEFAULT_POLICY = BulkPolicy()


class UserChoiceError(BrappedError):
    """Whose plays these are is ambiguous (several accounts or usernames and no --user)."""


# An export file's kind, first year and number: `streaming_history_audio`, 2017 and 2 of
# `Streaming_History_Audio_2017-2018_2.json`; `endsong`, none and 3 of `endsong_3.json`;
# `streaminghistory`, none and 1 of `StreamingHistory1.json`; and what follows the number (a copy
# named `..._1b.json` or `..._1 (1).json` comes after 1).
_NUMBERED_FILE = re.compile(
    r"(?P<kind>.*?[a-z])(?:_(?P<year>\d{4})(?:-\d{4})?)?"
    r"(?:_?(?P<number>\d+)(?P<after>[a-z]*(?: \(\d+\))?))?\.json"
)


def ordered(items: Iterable[Any]) -> list[Any]:
    """The import's items in the order they load.

    Extended history before account data, so account-data rows meet the extended plays already
    stored and are skipped as covered instead of being inserted and then replaced. Within each, the
    files of one kind in the order of their numbers, which is time order: a bulk load then adds
    each file's plays at the end of the unique key's index rather than in its middle. By name,
    `..._2017-2018_2.json` came before `..._2017_0`, and `_10` before `_2`.
    """
    listed = list(items)

    def rank(item: Any) -> tuple[int, str, int, int, str]:
        base = item.name.replace("\\", "/").rsplit("/", 1)[-1].rsplit("!", 1)[-1].lower()
        found = _NUMBERED_FILE.fullmatch(base)
        account = 1 if base.startswith("streaminghistory") else 0
        if found is None:
            return (account, base, 0, -1, "")
        year, number = int(found["year"] or 0), int(found["number"] or -1)
        return (account, found["kind"], year, number, found["after"] or "")

    return sorted(listed, key=rank)  # stable: the walk's order among equals


def choose_user(store: Store, items: Sequence[Any], explicit: str | None) -> tuple[str, str, list[str]]:
    """Whose plays these are: (user id, where it came from, warnings); see docs/merge.md."""
    if explicit:
        return explicit, "flag", []
    with store.connect() as conn:
        ids = list(conn.execute(select(accounts.c.id).order_by(accounts.c.id)).scalars())
    if len(ids) == 1:
        return ids[0], "account", []
    if len(ids) > 1:
        raise UserChoiceError(
            f"the database holds {len(ids)} accounts ({', '.join(ids)}): choose one with --user"
        )
    names: set[str] = set()
    for item in items:
        if isinstance(item, Source):
            try:
                found = _USERNAME.search(item.first_bytes(4096))
            except ImportFileError:
                continue
            if found:
                names.add(found.group(1).decode("utf-8", "replace"))
    if len(names) == 1:
        return names.pop(), "username", []
    if len(names) > 1:
        raise UserChoiceError(f"the files belong to several users ({', '.join(sorted(names))}): use --user")
    warning = (
        f"no --user given, no synced account and no username in the files: plays are stored for "
        f"user {DEFAULT_USER!r}"
    )
    return DEFAULT_USER, "default", [warning]


def likely_bulk(store: Store, sources: Sequence[Source], policy: BulkPolicy) -> bool:
    """Whether the import looks like a bulk load by its files' stated sizes, before any is read."""
    stated = sum(source.size for source in sources)
    return len(sources) > 1 and stated > 0 and worth_bulk(store, stated // policy.bytes_per_play, policy)


def worth_bulk(store: Store, estimate: int, policy: BulkPolicy) -> bool:
    """Whether an import of `estimate` plays is a bulk load into `store`."""
    if estimate < policy.min_plays:
        return False
    with store.connect() as conn:
        # The largest id bounds the plays stored, in one index lookup (a count reads them all).
        stored = conn.execute(select(func.max(plays.c.id))).scalar()
    return estimate >= 2 * int(stored or 0)
