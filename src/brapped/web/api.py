"""The JSON API under /api: the same documents as the CLI's `--format json`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from brapped.insights.scope import Scope
from brapped.insights.top import By, Kind, top
from brapped.web import reports
from brapped.web.app import Dashboard
from brapped.web.health import health
from brapped.web.params import DayPath, PeriodQuery, check_day, dashboard, period_query

router = APIRouter(prefix="/api", tags=["api"])
Board = Annotated[Dashboard, Depends(dashboard)]
Picker = Annotated[PeriodQuery, Depends(period_query)]


@router.get("/overview", summary="Totals, minutes per day, listening clock and top lists of a period")
def api_overview(board: Board, picker: Picker) -> dict[str, Any]:
    picked = picker.resolve(board.today())
    with board.store.connect() as conn:
        period = reports.period_of(conn, picked, board.timezone)
        return reports.overview(conn, period, board.settings.stream_threshold_ms)


@router.get("/today", summary="Today's daily report (`brapped report today --format json`)")
def api_today(board: Board) -> dict[str, Any]:
    with board.store.connect() as conn:
        return reports.day(conn, board.today(), board.timezone, board.settings.stream_threshold_ms)


@router.get("/day/{day}", summary="The daily report of a local day (`brapped report day DAY --format json`)")
def api_day(board: Board, day: DayPath) -> dict[str, Any]:
    check_day(day, "day")
    with board.store.connect() as conn:
        return reports.day(conn, day, board.timezone, board.settings.stream_threshold_ms)


@router.get("/top/{kind}", summary="A top list (`brapped report top KIND --format json`)")
def api_top(
    board: Board,
    picker: Picker,
    kind: Kind,
    by: Annotated[By, Query(description="rank by plays, streams or minutes")] = "plays",
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> list[dict[str, Any]]:
    picked = picker.resolve(board.today())
    with board.store.connect() as conn:
        period = reports.period_of(conn, picked, board.timezone)
        scope = Scope.of(period, None, board.settings.stream_threshold_ms)
        return top(conn, kind, scope, by=by, limit=limit)


@router.get("/health", summary="Data health: syncs, gaps, enrichment, token expiry, imports, runs")
def api_health(board: Board) -> dict[str, Any]:
    with board.store.connect() as conn:
        return health(conn, board.settings.token_file, board.clock.now())
