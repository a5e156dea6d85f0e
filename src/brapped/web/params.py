"""Query and path parameters shared by the pages and the API (validated once, documented in OpenAPI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Path, Query

from brapped.insights import FIRST_YEAR, LAST_YEAR, Period, PeriodError, bound_day
from brapped.web.picker import PeriodKey, Picked, pick


def bound(text: str | None, name: str, *, last: bool) -> date | None:
    """A period's `from` (`last` False) or `to` as a day: YYYY-MM-DD, or a month or year's first
    or last day, as the CLI's --from/--to; None when not given. An empty value (a form field left
    blank) is not given either."""
    if text is None or not text.strip():
        return None
    try:
        return bound_day(text, last=last)
    except PeriodError as exc:
        raise HTTPException(422, f"{name}: {exc}") from exc


# Strings, not dates: a month or a year is a bound too, parsed by bound() with the CLI's meaning.
FromText = Annotated[
    str | None,
    Query(alias="from", description="first local day: YYYY-MM-DD, or YYYY-MM / YYYY for its first day"),
]
ToText = Annotated[
    str | None,
    Query(alias="to", description="last local day: YYYY-MM-DD, or YYYY-MM / YYYY for its last day"),
]


@dataclass(frozen=True)
class PeriodQuery:
    """The period picker's query: a preset, or `custom` with `from` and/or `to`."""

    key: PeriodKey
    start: date | None
    end: date | None

    def resolve(self, today: date) -> Picked:
        try:
            return pick(self.key, today, self.start, self.end)
        except PeriodError as exc:
            raise HTTPException(422, str(exc)) from exc


def _picker(default: PeriodKey) -> Callable[..., PeriodQuery]:
    def period_query(
        period: Annotated[
            PeriodKey, Query(description="today, 7d, 30d, year (this year), all (all time) or custom")
        ] = default,
        start: FromText = None,
        end: ToText = None,
    ) -> PeriodQuery:
        """Parse the picker; `from`/`to` given without `period=custom` still mean a custom range."""
        first, last = bound(start, "from", last=False), bound(end, "to", last=True)
        if first is not None or last is not None:
            period = "custom"
        return PeriodQuery(period, first, last)

    return period_query


period_query = _picker("30d")
all_time_query = _picker("all")
Picker = Annotated[PeriodQuery, Depends(period_query)]
AllTimePicker = Annotated[PeriodQuery, Depends(all_time_query)]


def day_span(text: str, name: str) -> tuple[date, date]:
    """The first and last day `text` names: a day (YYYY-MM-DD) twice, or a month's or year's ends."""
    try:
        return bound_day(text), bound_day(text, last=True)
    except PeriodError as exc:
        raise HTTPException(422, f"{name}: {exc}") from exc


DayPath = Annotated[
    str, Path(description="a local day, YYYY-MM-DD (a page also takes YYYY-MM or YYYY: its overview)")
]


@dataclass(frozen=True)
class WrappedQuery:
    """Which Wrapped: a year (calendar or Spotify's window) or a custom range."""

    year: int | None
    window: Literal["calendar", "spotify"]
    start: date | None
    end: date | None

    def period(self, today: date, timezone: str) -> Period:
        if self.start is not None or self.end is not None:
            first = self.start or date(today.year, 1, 1)
            last = self.end or today
            if first > last:
                raise HTTPException(422, f"the period starts ({first}) after it ends ({last})")
            return Period(first, last, timezone)
        return Period.year(self.year or today.year, timezone, window=self.window)


def wrapped_query(
    year: Annotated[int | None, Query(ge=FIRST_YEAR, le=LAST_YEAR, description="calendar year")] = None,
    window: Annotated[
        Literal["calendar", "spotify"], Query(description="the whole year, or 1 January to 15 November")
    ] = "calendar",
    start: FromText = None,
    end: ToText = None,
) -> WrappedQuery:
    return WrappedQuery(year, window, bound(start, "from", last=False), bound(end, "to", last=True))


WrappedPick = Annotated[WrappedQuery, Depends(wrapped_query)]


# PostgreSQL text cannot hold NUL: refuse it at the door rather than as a database error.
NO_NUL = r"^[^\x00]*$"
ItemId = Annotated[
    str, Path(min_length=1, max_length=200, pattern=NO_NUL, description="a Spotify id or name:...")
]
SearchText = Annotated[
    str, Query(max_length=200, pattern=NO_NUL, description="words to look for (case and accents ignored)")
]

UserParam = Annotated[
    str | None,
    Query(
        alias="user",
        min_length=1,
        max_length=64,
        pattern=NO_NUL,
        description="only this account's plays (a Spotify user id); default: every account",
    ),
]
CompareUser = Annotated[
    str | None, Query(min_length=1, max_length=64, pattern=NO_NUL, description="a listener's user id")
]
