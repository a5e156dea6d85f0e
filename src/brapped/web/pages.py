"""The HTML pages: server-rendered, escaped, with chart data handed to the page as JSON."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.responses import RedirectResponse, Response

from brapped.web import reports
from brapped.web.cards import story_cards
from brapped.web.dashboard import WRAPPED_YEARS, Board
from brapped.web.health import dashboard_health
from brapped.web.params import DayPath, ItemId, Picker, SearchText, UserParam, WrappedPick, day_span
from brapped.web.picker import PRESETS
from brapped.web.quiz import top_song_quiz

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/")
def overview_page(request: Request, board: Board, picker: Picker, user: UserParam = None) -> Response:
    picked = picker.resolve(board.today())
    with board.store.connect() as conn:
        period = reports.period_of(conn, picked, board.timezone, user)
        data = board.report(conn, reports.overview, period, board.settings.stream_threshold_ms, user)
        pictures = reports.attach_images(conn, data)
    return board.render(
        request,
        "overview.html",
        {
            "data": data,
            "images": pictures,
            "picked": picked,
            "presets": PRESETS,
            "charts": {
                "days": data["days"],
                "clock": data["listening_clock"],
                "genres": data["top_genres"],
                "countries": data["top_countries"],
            },
        },
    )


@router.get("/day")
def today_page(
    request: Request,
    board: Board,
    day: Annotated[str | None, Query(description="jump to this day (a month or year: its overview)")] = None,
    user: UserParam = None,
) -> Response:
    if day is not None:
        first, last = day_span(day, "day")
        if first != last:
            return _overview_of(first, last, user)
        suffix = f"?{urlencode({'user': user})}" if user else ""
        return RedirectResponse(f"/day/{first.isoformat()}{suffix}", status_code=303)
    return _day(request, board, board.today(), user)


@router.get("/day/{day}")
def day_page(request: Request, board: Board, day: DayPath, user: UserParam = None) -> Response:
    first, last = day_span(day, "day")
    if first != last:
        return _overview_of(first, last, user)
    return _day(request, board, first, user)


def _overview_of(first: date, last: date, user: str | None) -> Response:
    # /day/2026-03 (an edited or shared URL): a month or year is the overview of it, not a day.
    query = {"from": first.isoformat(), "to": last.isoformat(), **({"user": user} if user else {})}
    return RedirectResponse(f"/?{urlencode(query)}", status_code=303)


def _day(request: Request, board: Board, day: date, user: str | None) -> Response:
    with board.store.connect() as conn:
        data = board.report(conn, reports.day, day, board.timezone, board.settings.stream_threshold_ms, user)
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
    return board.render(request, "health.html", {"data": dashboard_health(board)})


@router.get("/wrapped")
def wrapped_page(request: Request, board: Board, which: WrappedPick, user: UserParam = None) -> Response:
    period = which.period(board.today(), board.timezone)
    settings = board.settings
    with board.store.connect() as conn:
        data = board.report(
            conn,
            reports.wrapped_report,
            period,
            settings.stream_threshold_ms,
            settings.session_gap_minutes,
            100,
            user,
        )
        shown = {"top_artists": data["top_artists"][:10], "top_tracks": data["top_tracks"][:10]}
        pictures = reports.attach_images(conn, shown)
    this_year = board.today().year
    return board.render(
        request,
        "wrapped.html",
        {
            "data": data,
            "images": pictures,
            "which": which,
            "cards": story_cards(data),
            "quiz": top_song_quiz(data),
            "years": list(range(this_year, this_year - WRAPPED_YEARS, -1)),
            "charts": {"clock": data["listening_clock"], "race": data["artist_race"]},
        },
    )


@router.get("/search")
def search_page(
    request: Request,
    board: Board,
    q: SearchText = "",
    user: UserParam = None,
) -> Response:
    with board.store.begin() as conn:
        data = board.report(conn, reports.search_results, q, 10, user)
        pictures = reports.attach_images(conn, {"artists": data["artists"], "albums": data["albums"]})
    return board.render(request, "search.html", {"data": data, "q": q, "images": pictures})


@router.get("/artist/{artist_id}")
def artist_page(request: Request, board: Board, artist_id: ItemId, user: UserParam = None) -> Response:
    with board.store.begin() as conn:
        data = board.report(
            conn, reports.artist, artist_id, board.timezone, board.settings.stream_threshold_ms, user
        )
        pictures = reports.attach_images(conn, {"top_tracks": data["top_tracks"]})
    months = data["months"]
    return board.render(
        request,
        "artist.html",
        {
            "data": data,
            "images": pictures,
            "charts": {"months": months, "month_series": [["plays", "plays"]]},
        },
    )


@router.get("/track/{track_id}")
def track_page(request: Request, board: Board, track_id: ItemId, user: UserParam = None) -> Response:
    with board.store.begin() as conn:
        data = board.report(
            conn, reports.track, track_id, board.timezone, board.settings.stream_threshold_ms, user
        )
        album = data["track"]["album"]
        pictures = reports.images(conn, [], [album["id"]] if album else [])
    return board.render(
        request,
        "track.html",
        {
            "data": data,
            "images": pictures,
            "charts": {"months": data.get("months", []), "month_series": [["plays", "plays"]]},
        },
    )


@router.get("/album/{album_id}")
def album_page(request: Request, board: Board, album_id: ItemId, user: UserParam = None) -> Response:
    with board.store.connect() as conn:
        data = board.report(conn, reports.album, album_id, board.settings.stream_threshold_ms, user)
    return board.render(request, "album.html", {"data": data, "images": {}})
