"""Query and path parameters shared by the pages and the API (validated once, documented in OpenAPI)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import HTTPException, Path, Query, Request

from brapped.web.app import Dashboard
from brapped.web.picker import PeriodError, PeriodKey, Picked, pick

# Reports are about plays brapped can have stored; far-away dates only make date arithmetic overflow.
FIRST_DAY = date(1970, 1, 2)
LAST_DAY = date(2999, 12, 30)


def dashboard(request: Request) -> Dashboard:
    board: Dashboard = request.app.state.dashboard
    return board


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


def period_query(
    period: Annotated[
        PeriodKey, Query(description="today, 7d, 30d, year (this year), all (all time) or custom")
    ] = "30d",
    start: Annotated[date | None, Query(alias="from", description="first local day (custom)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last local day (custom)")] = None,
) -> PeriodQuery:
    """Parse the picker; `from`/`to` given without `period=custom` still mean a custom range."""
    check_day(start, "from")
    check_day(end, "to")
    if start is not None or end is not None:
        period = "custom"
    return PeriodQuery(period, start, end)


DayPath = Annotated[date, Path(description="a local day, YYYY-MM-DD")]
