"""What an import reports: one `FileReport` per input file, and the `ImportResult` of them all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

Progress = Callable[[int, int, str], None]
"""Called with (files done, files in total, the file just started or finished)."""


@dataclass
class FileReport:
    """What happened to one input file."""

    name: str
    status: str  # imported | failed | skipped
    format: str | None = None
    records: int = 0
    new: int = 0
    known: int = 0
    merged: int = 0
    replaced: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    message: str | None = None
    first_played_at: datetime | None = None
    last_played_at: datetime | None = None
    # Tracks and episodes known by name whose plays this file replaced: removed at the import's end
    # if no play is left to them (`store.stored_plays.drop_unplayed_by_name`). Not reported.
    replaced_items: set[str] = field(default_factory=set, repr=False)
    replaced_episodes: set[str] = field(default_factory=set, repr=False)


@dataclass
class ImportResult:
    """The outcome of `import_paths`: one report per input file and the totals."""

    user_id: str
    user_source: str  # flag | account | username | default
    run_id: int | None
    files: list[FileReport]
    warnings: list[str] = field(default_factory=list)
    gaps_filled: int = 0
    # What failed the import as a whole rather than one file (none of them held any history).
    error: str | None = None

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def errors(self) -> list[str]:
        """Each failed file's message, then the import's own `error`."""
        found = [f.message or f.name for f in self.failed]
        return [*found, self.error] if self.error else found

    @property
    def imported(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "imported"]

    @property
    def ok(self) -> bool:
        """True when every history file loaded (and there was at least one)."""
        return not self.failed and bool(self.imported)

    def totals(self) -> dict[str, Any]:
        skipped: Counter[str] = Counter()
        for f in self.imported:
            skipped.update(f.skipped)
        return {
            "files_read": len(self.imported),
            "files_failed": len(self.failed),
            "files_skipped": len([f for f in self.files if f.status == "skipped"]),
            "records": sum(f.records for f in self.imported),
            "new": sum(f.new for f in self.imported),
            "known": sum(f.known for f in self.imported),
            "merged": sum(f.merged for f in self.imported),
            "replaced": sum(f.replaced for f in self.imported),
            "skipped": dict(sorted(skipped.items())),
            "gaps_filled": self.gaps_filled,
        }


def first_line(exc: SQLAlchemyError) -> str:
    """The first line of a database error, as a failed file's message gives it."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]
