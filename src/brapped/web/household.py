"""The household's pages: /compare (two listeners side by side) and /party (the Wrapped party)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from brapped.web import reports
from brapped.web.dashboard import WRAPPED_YEARS, Board
from brapped.web.params import AllTimePicker, CompareUser, WrappedPick
from brapped.web.party_cards import party_cards
from brapped.web.picker import PRESETS

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/compare")
def compare_page(
    request: Request, board: Board, picker: AllTimePicker, a: CompareUser = None, b: CompareUser = None
) -> Response:
    picked = picker.resolve(board.today())
    with board.store.connect() as conn:
        # Without a choice: the first two listeners (by id).
        everyone = [u["id"] for u in board.report(conn, reports.household)]
        first = a or (everyone[0] if everyone else None)
        second = b or next((u for u in everyone if u != first), None)
        data = None
        if first is not None and second is not None:
            period = None if picked.key == "all" else reports.period_of(conn, picked, board.timezone)
            data = board.report(conn, reports.compare_report, first, second, period)
    return board.render(
        request,
        "compare.html",
        {"data": data, "a": first, "b": second, "picked": picked, "presets": PRESETS, "charts": {}},
    )


@router.get("/party")
def party_page(request: Request, board: Board, which: WrappedPick) -> Response:
    period = which.period(board.today(), board.timezone)
    settings = board.settings
    with board.store.connect() as conn:
        data = board.report(
            conn,
            reports.party_report,
            period,
            (),
            settings.stream_threshold_ms,
            settings.session_gap_minutes,
        )
    this_year = board.today().year
    return board.render(
        request,
        "party.html",
        {
            "data": data,
            "which": which,
            "cards": party_cards(data),
            "years": list(range(this_year, this_year - WRAPPED_YEARS, -1)),
            "charts": {},
        },
    )
