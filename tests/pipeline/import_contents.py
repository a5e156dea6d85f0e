"""What two imports are compared by: a store's contents and an import's outcome, file by file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from brapped.pipeline.import_plan import BulkPolicy
from brapped.pipeline.import_report import ImportResult
from brapped.store import Store
from brapped.store.tables import (
    album_artists,
    albums,
    artists,
    episode_plays,
    episodes,
    imported_files,
    plays,
    track_artists,
    tracks,
)

# The same import two ways: every import a bulk load however small, or none however big.
ALWAYS_BULK = BulkPolicy(min_plays=1)
FILE_BY_FILE = BulkPolicy(min_plays=10**12)

PLAY_COLUMNS = [c for c in plays.c if c.name != "id"]
EPISODE_PLAY_COLUMNS = [c for c in episode_plays.c if c.name != "id"]


def contents(store: Store) -> list[list[tuple[Any, ...]]]:
    """Every play and episode play (without ids), the catalogue, and the imported files."""
    found = []
    with store.connect() as conn:
        found.append(
            [
                tuple(r)
                for r in conn.execute(select(*PLAY_COLUMNS).order_by(plays.c.played_at, plays.c.track_id))
            ]
        )
        found.append(
            [
                tuple(r)
                for r in conn.execute(
                    select(*EPISODE_PLAY_COLUMNS).order_by(
                        episode_plays.c.played_at, episode_plays.c.episode_id
                    )
                )
            ]
        )
        for table in (artists, albums, album_artists, tracks, track_artists, episodes):
            found.append([tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))])
        found.append(
            sorted(tuple(r) for r in conn.execute(select(imported_files.c.sha256, imported_files.c.records)))
        )
    return found


def outcome(result: ImportResult) -> list[tuple[Any, ...]]:
    """Each file's name, status, counts, skips and message."""
    return [
        (Path(f.name).name, f.status, f.new, f.known, f.merged, f.replaced, f.skipped, f.message)
        for f in result.files
    ]
