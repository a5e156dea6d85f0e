"""Query and path parameters shared by the pages and the API (validated once, documented in OpenAPI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Path, Query

from brapped.insights import FIRST_DAY, FIRST_YEAR, LAST_DAY, LAST_YEAR, Period, PeriodError
from brapped.web.picker import PeriodKey, Picked, pick


def check_day(value: date | None, name: str) -> date | None:
    if value is not None and not FIRST_DAY <= value <= LAST_DAY:
        raise HTTPException(422, f"{name} must be between {FIRST_DAY} and {LAST_DAY}")
    return value


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
        start: Annotated[date | None, Query(alias="from", description="first local day (custom)")] = None,
        end: Annotated[date | None, Query(alias="to", description="last local day (custom)")] = None,
    ) -> PeriodQuery:
        """Parse the picker; `from`/`to` given without `period=custom` still mean a custom range."""
        check_day(start, "from")
        check_day(end, "to")
        if start is not None or end is not None:
            period = "custom"
        return PeriodQuery(period, start, end)

    return period_query


period_query = _picker("30d")
all_time_query = _picker("all")
Picker = Annotated[PeriodQuery, Depends(period_query)]
AllTimePicker = Annotated[PeriodQuery, Depends(all_time_query)]


DayPath = Annotated[date, Path(description="a local day, YYYY-MM-DD")]


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
    start: Annotated[date | None, Query(alias="from", description="first local day (range)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last local day of a custom range")] = None,
) -> WrappedQuery:
    check_day(start, "from")
    check_day(end, "to")
    return WrappedQuery(year, window, start, end)


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
