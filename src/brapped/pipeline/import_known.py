"""Files an import need not read: an account's plays already hold every record of a file of the same
content (`store.known_files`, noted when the file loaded). Importing it again would find each of its
plays known and change nothing, so it is reported so without being decoded, staged or merged.

Only a file whose stated size is one an imported file had is hashed, so an import of new files pays
nothing. With `--keep-personal` every file is read: reading it may add personal fields.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from brapped.imports import ImportFileError, Source
from brapped.pipeline.import_report import FileReport
from brapped.store import Store
from brapped.store.known_files import known_file, known_sizes

UNCHANGED = "already imported: the same content, every play known"


def unchanged_files(store: Store, user: str, items: Sequence[object]) -> dict[int, FileReport]:
    """The reports of the files among `items` (by position) that `user`'s plays already hold."""
    found: dict[int, FileReport] = {}
    with store.connect() as conn:
        sizes = known_sizes(conn, user)
        if not sizes:
            return found
        for position, item in enumerate(items):
            if not isinstance(item, Source) or (item.size and item.size not in sizes):
                continue
            try:
                sha256 = hashlib.sha256(item.read()).hexdigest()
            except (ImportFileError, OSError):
                continue  # read again when imported, and reported then
            known = known_file(conn, user, sha256)
            if known is None:
                continue
            found[position] = FileReport(
                item.name,
                "imported",
                known.format,
                known.records,
                known=known.plays,
                skipped=dict(known.skipped),
                message=UNCHANGED,
                first_played_at=known.first_played_at,
                last_played_at=known.last_played_at,
            )
    return found
