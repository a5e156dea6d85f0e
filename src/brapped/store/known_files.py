"""File contents an account's plays already hold in full (`known_files`): an import recognises an
unchanged file by its size and hash and reports it as it would after reading it, without reading it.

A row is written in the transaction that loads the file, so it exists only if the file's plays do;
removing an account's plays removes its rows (`forget`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from brapped.store.tables import imported_files, known_files


@dataclass(frozen=True)
class NotedFile:
    """A file whose records `user_id`'s plays now hold: `plays` of them stored, `skipped` not."""

    sha256: str
    size: int
    plays: int
    skipped: dict[str, int]
    run_id: int | None


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


def remember_files(conn: Connection, user_id: str, files: Sequence[NotedFile]) -> None:
    """Note that `user_id`'s plays hold these files (in the transaction that loaded them): a
    statement or two for them all, a bulk load's files at its end."""
    if not files:
        return
    shas = [f.sha256 for f in files]
    for start in range(0, len(shas), 500):  # bound the parameters of one statement
        chunk = shas[start : start + 500]
        conn.execute(
            delete(known_files).where(known_files.c.user_id == user_id, known_files.c.sha256.in_(chunk))
        )
    rows = [
        {
            "user_id": user_id,
            "sha256": f.sha256,
            "size": f.size,
            "plays": f.plays,
            "skipped": json.dumps(f.skipped, sort_keys=True),
            "run_id": f.run_id,
        }
        for f in {f.sha256: f for f in files}.values()  # the last note of a content twice in one load
    ]
    conn.execute(insert(known_files), rows)


def forget(conn: Connection, user_ids: Iterable[str]) -> None:
    """Forget the files of these accounts (their plays were removed)."""
    conn.execute(delete(known_files).where(known_files.c.user_id.in_(list(user_ids))))
