"""The JSON API under /api: the same documents as the CLI's `--format json`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from brapped.insights import By, Kind
from brapped.web import reports
from brapped.web.dashboard import Board
from brapped.web.health import dashboard_health
from brapped.web.params import (
    AllTimePicker,
    DayPath,
    ItemId,
    Picker,
    SearchText,
    UserParam,
    WrappedPick,
    day_span,
)

router = APIRouter(prefix="/api", tags=["api"])


@router.get("/overview", summary="Totals, minutes per day, listening clock and top lists of a period")
def api_overview(board: Board, picker: Picker, user: UserParam = None) -> dict[str, Any]:
    picked = picker.resolve(board.today())
    with board.store.connect() as conn:
        period = reports.period_of(conn, picked, board.timezone, user)
        return board.report(conn, reports.overview, period, board.settings.stream_threshold_ms, user)


@router.get("/today", summary="Today's daily report (`brapped report today --format json`)")
def api_today(board: Board, user: UserParam = None) -> dict[str, Any]:
    with board.store.connect() as conn:
        return board.report(
            conn, reports.day, board.today(), board.timezone, board.settings.stream_threshold_ms, user
        )


@router.get("/day/{day}", summary="The daily report of a local day (`brapped report day DAY --format json`)")
def api_day(board: Board, day: DayPath, user: UserParam = None) -> dict[str, Any]:
    first, last = day_span(day, "day")
    if first != last:
        # A day report has one day's shape; the overview is the report of a month or year.
        raise HTTPException(422, f"day: {day!r} is not one day: ask /api/overview?from={day}&to={day}")
    with board.store.connect() as conn:
        return board.report(
            conn, reports.day, first, board.timezone, board.settings.stream_threshold_ms, user
        )


@router.get("/wrapped", summary="Wrapped for a year or range (`brapped report wrapped --format json`)")
def api_wrapped(
    board: Board,
    which: WrappedPick,
    limit: Annotated[int, Query(ge=1, le=1000, description="length of each top list")] = 100,
    user: UserParam = None,
) -> dict[str, Any]:
    period = which.period(board.today(), board.timezone)
    settings = board.settings
    with board.store.connect() as conn:
        return board.report(
            conn,
            reports.wrapped_report,
            period,
            settings.stream_threshold_ms,
            settings.session_gap_minutes,
            limit,
            user,
        )


@router.get("/top/{kind}", summary="A top list (`brapped report top KIND --format json`)")
def api_top(
    board: Board,
    kind: Kind,
    picker: AllTimePicker,
    by: Annotated[By, Query(description="rank by plays, streams, minutes or credit (artists)")] = "plays",
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    user: UserParam = None,
) -> dict[str, Any]:
    picked = picker.resolve(board.today())
    with board.store.connect() as conn:
        chosen = None if picked.key == "all" else reports.period_of(conn, picked, board.timezone, user)
        return board.report(
            conn, reports.top_document, kind, chosen, by, limit, board.settings.stream_threshold_ms, user
        )


@router.get("/search", summary="Tracks, artists and albums you played whose name matches (as you type)")
def api_search(
    board: Board,
    q: SearchText = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    user: UserParam = None,
) -> dict[str, Any]:
    # insights keeps a folded-name table up to date as it searches: a short write transaction.
    with board.store.begin() as conn:
        return board.report(conn, reports.search_results, q, limit, user)


@router.get("/artist/{artist_id}", summary="An artist's story (`brapped artist ID --format json`)")
def api_artist(board: Board, artist_id: ItemId, user: UserParam = None) -> dict[str, Any]:
    with board.store.begin() as conn:
        return board.report(
            conn, reports.artist, artist_id, board.timezone, board.settings.stream_threshold_ms, user
        )


@router.get("/track/{track_id}", summary="A track's story (`brapped track ID --format json`)")
def api_track(board: Board, track_id: ItemId, user: UserParam = None) -> dict[str, Any]:
    with board.store.begin() as conn:
        return board.report(
            conn, reports.track, track_id, board.timezone, board.settings.stream_threshold_ms, user
        )


@router.get("/album/{album_id}", summary="An album: details and its tracks' statistics (all time)")
def api_album(board: Board, album_id: ItemId, user: UserParam = None) -> dict[str, Any]:
    with board.store.connect() as conn:
        return board.report(conn, reports.album, album_id, board.settings.stream_threshold_ms, user)


@router.get("/health", summary="Data health: syncs, gaps, enrichment, token expiry, imports, runs")
def api_health(board: Board) -> dict[str, Any]:
    return {**dashboard_health(board), "dashboard": board.status()}
