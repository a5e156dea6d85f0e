"""The HTML pages: server-rendered, escaped, with chart data handed to the page as JSON."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from starlette.responses import RedirectResponse, Response

from brapped.web import reports
from brapped.web.app import Dashboard
from brapped.web.health import health
from brapped.web.params import DayPath, PeriodQuery, check_day, dashboard, period_query
from brapped.web.picker import PRESETS

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Board = Annotated[Dashboard, Depends(dashboard)]
Picker = Annotated[PeriodQuery, Depends(period_query)]


@router.get("/")
def overview_page(request: Request, board: Board, picker: Picker) -> Response:
    picked = picker.resolve(board.today())
    with board.store.connect() as conn:
        period = reports.period_of(conn, picked, board.timezone)
        data = reports.overview(conn, period, board.settings.stream_threshold_ms)
        pictures = reports.attach_images(conn, data)
    return board.render(
        request,
        "overview.html",
        {
            "data": data,
            "images": pictures,
            "picked": picked,
            "presets": PRESETS,
            "weekdays": reports.WEEKDAYS,
            "charts": {"days": data["days"], "clock": data["clock"], "genres": data["top_genres"]},
        },
    )


@router.get("/day")
def today_page(
    request: Request, board: Board, day: Annotated[date | None, Query(description="jump to this day")] = None
) -> Response:
    if day is not None:
        check_day(day, "day")
        return RedirectResponse(f"/day/{day.isoformat()}", status_code=303)
    return _day(request, board, board.today())


@router.get("/day/{day}")
def day_page(request: Request, board: Board, day: DayPath) -> Response:
    check_day(day, "day")
    return _day(request, board, day)


def _day(request: Request, board: Board, day: date) -> Response:
    with board.store.connect() as conn:
        data = reports.day(conn, day, board.timezone, board.settings.stream_threshold_ms)
        pictures = reports.attach_images(conn, data)
    return board.render(
        request,
        "day.html",
        {
            "data": data,
            "images": pictures,
            "day": day,
            "previous": day - timedelta(days=1),
            "next": day + timedelta(days=1) if day < board.today() else None,
            "charts": {"hours": data["hours"]},
        },
    )


@router.get("/health")
def health_page(request: Request, board: Board) -> Response:
    with board.store.connect() as conn:
        data = health(conn, board.settings.token_file, board.clock.now())
    return board.render(request, "health.html", {"data": data})
