"""File contents an account's plays already hold in full (`known_files`): an import recognises an
unchanged file by its size and hash and reports it as it would after reading it, without reading it.

A row is written in the transaction that loads the file, so it exists only if the file's plays do;
removing an account's plays removes its rows (`forget`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from brapped.store.tables import imported_files, known_files


@dataclass(frozen=True)
class KnownFile:
    """What a file held for an account when it was imported: its records stored as plays (which
    reading it again finds known) and those not stored, by reason."""

    plays: int
    skipped: dict[str, int]
    records: int
    format: str | None = None
    first_played_at: datetime | None = None
    last_played_at: datetime | None = None


def known_sizes(conn: Connection, user_id: str) -> set[int]:
    """The sizes of the files whose plays `user_id` holds: only a file of one of them is hashed."""
    return set(conn.execute(select(known_files.c.size).where(known_files.c.user_id == user_id)).scalars())


def known_file(conn: Connection, user_id: str, sha256: str) -> KnownFile | None:
    """What the file of this content held for `user_id`, or None when it was never imported for them."""
    row = conn.execute(
        select(
            known_files.c.plays,
            known_files.c.skipped,
            imported_files.c.records,
            imported_files.c.format,
            imported_files.c.first_played_at,
            imported_files.c.last_played_at,
        )
        .outerjoin(imported_files, imported_files.c.sha256 == known_files.c.sha256)
        .where(known_files.c.user_id == user_id, known_files.c.sha256 == sha256)
    ).first()
    if row is None:
        return None
    skipped = {str(k): int(v) for k, v in json.loads(row.skipped).items()}
    records = int(row.plays) + sum(skipped.values()) if row.records is None else int(row.records)
    return KnownFile(int(row.plays), skipped, records, row.format, row.first_played_at, row.last_played_at)


def remember_file(
    conn: Connection,
    user_id: str,
    sha256: str,
    size: int,
    plays: int,
    skipped: dict[str, int],
    run_id: int | None,
) -> None:
    """Note that `user_id`'s plays hold the file of this content (in the transaction that loaded it)."""
    where = (known_files.c.user_id == user_id, known_files.c.sha256 == sha256)
    conn.execute(delete(known_files).where(*where))
    conn.execute(
        insert(known_files).values(
            user_id=user_id,
            sha256=sha256,
            size=size,
            plays=plays,
            skipped=json.dumps(skipped, sort_keys=True),
            run_id=run_id,
        )
    )


def forget(conn: Connection, user_ids: Iterable[str]) -> None:
    """Forget the files of these accounts (their plays were removed)."""
    conn.execute(delete(known_files).where(known_files.c.user_id.in_(list(user_ids))))
