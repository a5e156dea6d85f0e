"""The period picker: the presets the dashboard offers, turned into local calendar dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from brapped.insights import PeriodError, preset_days

PeriodKey = Literal["today", "7d", "30d", "year", "all", "custom"]
PRESETS: tuple[tuple[PeriodKey, str], ...] = (
    ("today", "Today"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("year", "This year"),
    ("all", "All time"),
    ("custom", "Custom"),
)


@dataclass(frozen=True)
class Picked:
    """A period in local calendar days, both ends included; None ends mean "from the first play" / "today"."""

    key: PeriodKey
    start: date | None
    end: date

    @property
    def label(self) -> str:
        if self.key == "all":
            return "All time"
        if self.key == "custom" or self.start is None:
            start = self.start.isoformat() if self.start else "the beginning"
            return f"{start} – {self.end.isoformat()}"
        return dict(PRESETS)[self.key]


def pick(key: PeriodKey, today: date, start: date | None = None, end: date | None = None) -> Picked:
    """Resolve a preset (or a custom range) against `today`, the local date now."""
    if key != "custom":
        first, last = preset_days(key, today)
        return Picked(key, first, last)
    if start is None and end is None:
        raise PeriodError("a custom period needs `from` and/or `to` dates")
    last = end or today
    if start is not None and start > last:
        raise PeriodError(f"the period starts ({start}) after it ends ({last})")
    return Picked(key, start, last)
