"""The dashboard's dates: `from`/`to` take a year or month as the CLI's --from/--to do."""

from __future__ import annotations

import httpx
import pytest
from markupsafe import escape

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("from=2026-03", "2026-03-01", "2026-03-15"),  # to: today
        ("from=2026-02&to=2026-02", "2026-02-01", "2026-02-28"),
        ("from=2024-02&to=2024-02", "2024-02-01", "2024-02-29"),
        ("from=2025&to=2025", "2025-01-01", "2025-12-31"),
        ("from=2025-12-30&to=2026-01", "2025-12-30", "2026-01-31"),
        ("period=custom&from=2026-3-1&to=2026-03-02", "2026-03-01", "2026-03-02"),
        ("from=2026-03-10&to=", "2026-03-10", "2026-03-15"),  # a field left blank: not given
    ],
)
async def test_months_and_years_are_their_first_and_last_days(
    client: httpx.AsyncClient, query: str, start: str, end: str
) -> None:
    """Every route taking a period answers the same days for the same `from`/`to`."""
    for path in ("/api/overview", "/api/top/artists", "/api/wrapped"):
        period = (await client.get(f"{path}?{query}")).json()["period"]
        assert (period["start"], period["end"]) == (start, end), path
    page = (await client.get(f"/?{query}")).text
    # The picker shows the days the month stood for, ready to be changed.
    assert f'name="from" value="{start}"' in page and f'name="to" value="{end}"' in page
    wrapped = (await client.get(f"/wrapped?{query}")).text
    assert f"{start} to {end}" in wrapped


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13", "from: not a date: '2026-13' (month must be in 1..12)"),
        ("to=2026-02-30", "to: not a date: '2026-02-30' (day is out of range for month)"),
        ("from=March", "from: not a date: 'March': use YYYY, YYYY-MM or YYYY-MM-DD"),
        ("from=1700000000", "from: not a date: '1700000000': use YYYY, YYYY-MM or YYYY-MM-DD"),
        ("from=2026-%2B3", "from: not a date: '2026-+3': use YYYY, YYYY-MM or YYYY-MM-DD"),
        ("from=2026-03..2026-04", "from: not a date: '2026-03..2026-04': use YYYY, YYYY-MM or YYYY-MM-DD"),
        ("to=9999-12", "to: '9999-12': reports cover 1970-01-02 to 2999-12-30"),
        ("from=1970", "from: '1970': reports cover 1970-01-02 to 2999-12-30"),
        ("from=2026-03&to=2026-02", "the period starts (2026-03-01) after it ends (2026-02-28)"),
    ],
)
async def test_junk_dates_are_422_with_the_reason(
    client: httpx.AsyncClient, query: str, message: str
) -> None:
    for path in ("/api/overview", "/api/top/tracks", "/api/wrapped"):
        response = await client.get(f"{path}?{query}")
        assert (response.status_code, response.json()) == (422, {"detail": message}), path
    for path in ("/", "/wrapped", "/party", "/compare"):
        response = await client.get(f"{path}?{query}")
        assert response.status_code == 422, path
        assert str(escape(message)) in response.text, path


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/day/2026-02", "/?from=2026-02-01&to=2026-02-28"),
        ("/day?day=2025", "/?from=2025-01-01&to=2025-12-31"),
        ("/day/2026-02?user=listener", "/?from=2026-02-01&to=2026-02-28&user=listener"),
        ("/day?day=2026-3-5", "/day/2026-03-05"),
    ],
)
async def test_a_month_as_a_day_page_is_its_overview(
    client: httpx.AsyncClient, path: str, location: str
) -> None:
    response = await client.get(path)
    assert (response.status_code, response.headers["location"]) == (303, location)


async def test_the_day_api_takes_only_a_day(client: httpx.AsyncClient) -> None:
    month = await client.get("/api/day/2026-02")
    assert (month.status_code, month.json()) == (
        422,
        {"detail": "day: '2026-02' is not one day: ask /api/overview?from=2026-02&to=2026-02"},
    )
    junk = await client.get("/api/day/yesterday")
    assert (junk.status_code, junk.json()["detail"]) == (
        422,
        "day: not a date: 'yesterday': use YYYY, YYYY-MM or YYYY-MM-DD",
    )
    assert (await client.get("/api/day/2026-03-05")).json()["date"] == "2026-03-05"
