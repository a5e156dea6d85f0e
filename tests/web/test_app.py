"""Every dashboard route in-process (httpx.ASGITransport) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx
import pytest
from click.testing import CliRunner

from brapped.cli import cli
from tests.web.conftest import NOW, SEEDED, XSS, XSS_ARTIST

pytestmark = pytest.mark.anyio

TODAY = NOW.date()
HTML_PAGES = [
    "/",
    "/?period=today",
    "/?period=7d",
    "/?period=year",
    "/?period=all",
    f"/?period=custom&from={TODAY - timedelta(days=3)}&to={TODAY}",
    "/day",
    f"/day/{TODAY - timedelta(days=1)}",
    "/wrapped",
    "/wrapped?window=spotify",
    f"/wrapped?from={TODAY - timedelta(days=10)}&to={TODAY}",
    "/search",
    "/search?q=script",
    "/search?q=artist",
    f"/artist/{SEEDED.main_artist}",
    f"/artist/{SEEDED.guest_artist}",
    f"/artist/{SEEDED.xss_artist}",
    f"/track/{SEEDED.xss_track}",
    f"/track/{SEEDED.feat_track}",
    f"/album/{SEEDED.album}",
    "/album/alb_xss",
    "/health",
]
API_ROUTES = [
    "/api/overview",
    "/api/overview?period=all",
    "/api/today",
    f"/api/day/{TODAY}",
    "/api/wrapped",
    "/api/wrapped?year=2026&window=spotify",
    "/api/top/artists",
    "/api/top/tracks?period=7d&by=minutes&limit=2",
    "/api/top/albums",
    "/api/top/genres",
    "/api/search?q=hit",
    f"/api/artist/{SEEDED.main_artist}",
    f"/api/track/{SEEDED.hit_track}",
    f"/api/album/{SEEDED.album}",
    "/api/health",
]


def seeded_day(days_ago: int) -> tuple[int, float]:
    """(plays, minutes) the seed wrote on a day: the hit twice, the duet, the script track on odd days."""
    ms = 200_000 + 150_000 + 180_000 + (20_000 if days_ago % 2 else 0)
    return 3 + days_ago % 2, round(ms / 60_000, 2)


@pytest.mark.parametrize("path", HTML_PAGES)
async def test_every_page_renders_and_escapes_names(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    body = response.text
    # A name that is markup never reaches the page as markup.
    assert XSS not in body
    assert "<img src=x" not in body
    # Only our own script tags: the five static ones, and the Top Song Quiz's on Wrapped.
    scripts = re.findall(r"<script[^>]*src=\"([^\"]+)\"", body)
    assert scripts[:5] == [
        "/static/app.js?v=0.1.0",
        "/static/story.js?v=0.1.0",
        "/static/vendor/echarts/echarts.min.js",
        "/static/race.js?v=0.1.0",
        "/static/charts.js?v=0.1.0",
    ]
    extra = ["/static/quiz.js?v=0.1.0"] if path.startswith("/wrapped") else []
    assert scripts[5:] == extra
    # The scripts above and the JSON data block.
    assert len(re.findall(r"<script", body)) == 6 + len(extra)


@pytest.mark.parametrize(
    "path",
    ["/search?q=script", f"/track/{SEEDED.xss_track}", "/album/alb_xss", f"/artist/{SEEDED.xss_artist}", "/"],
)
async def test_markup_names_show_as_text(client: httpx.AsyncClient, path: str) -> None:
    body = (await client.get(path)).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body or "&#34;&gt;&lt;img src=x" in body


@pytest.mark.parametrize("path", API_ROUTES)
async def test_every_api_route_answers_json(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    assert response.json()


async def test_day_numbers_are_the_seeded_ones(client: httpx.AsyncClient) -> None:
    for days_ago in (0, 1):
        day = TODAY - timedelta(days=days_ago)
        data = (await client.get(f"/api/day/{day}")).json()
        plays, minutes = seeded_day(days_ago)
        assert (data["date"], data["plays"], data["minutes_listened"]) == (day.isoformat(), plays, minutes)
    today = (await client.get("/api/today")).json()
    assert today["date"] == TODAY.isoformat()
    assert today["hours"][9] == round((200_000 + 150_000) / 60_000, 2)
    assert today["hours"][18] == round(180_000 / 60_000, 2)


async def test_overview_period_picker(client: httpx.AsyncClient) -> None:
    week = (await client.get("/api/overview?period=7d")).json()
    assert week["period"] == {
        "start": (TODAY - timedelta(days=6)).isoformat(),
        "end": TODAY.isoformat(),
        "timezone": "UTC",
    }
    assert week["plays"] == sum(seeded_day(d)[0] for d in range(7))
    assert [d["date"] for d in week["days"]] == [
        (TODAY - timedelta(days=6 - i)).isoformat() for i in range(7)
    ]
    assert [d["minutes"] for d in week["days"]] == [seeded_day(6 - i)[1] for i in range(7)]
    everything = (await client.get("/api/overview?period=all")).json()
    assert everything["period"]["start"] == (TODAY - timedelta(days=20)).isoformat()
    assert everything["plays"] == sum(seeded_day(d)[0] for d in range(21))
    clock = everything["listening_clock"]["plays"]
    assert sum(map(sum, clock)) == everything["plays"]
    assert everything["top_artists"][0]["id"] == SEEDED.main_artist
    guest = next(a for a in everything["top_artists"] if a["id"] == SEEDED.guest_artist)
    assert (guest["main_plays"], guest["featured_plays"]) == (0, 21)
    custom = (await client.get(f"/api/overview?from={TODAY - timedelta(days=1)}&to={TODAY}")).json()
    assert custom["plays"] == seeded_day(0)[0] + seeded_day(1)[0]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/overview?period=custom", 422),
        (f"/api/overview?from={TODAY}&to={TODAY - timedelta(days=2)}", 422),
        ("/api/overview?period=fortnight", 422),
        ("/api/day/2026-02-30", 422),
        ("/api/day/0001-01-01", 422),
        ("/api/top/moods", 422),
        ("/api/top/artists?limit=0", 422),
        ("/api/wrapped?year=99999", 422),
        ("/api/artist/nobody-at-all", 404),
        ("/api/track/nothing", 404),
        ("/api/album/none", 404),
        ("/api/nope", 404),
        ("/api/docs", 404),  # Swagger UI would need a CDN
        ("/day/not-a-day", 422),
        ("/artist/nobody-at-all", 404),
        ("/no/such/page", 404),
        ("/api/search?q=a%00b", 422),
        ("/api/artist/a%00b", 422),
        ("/api/album/%00", 422),
        ("/search?q=%00x", 422),
        ("/track/x%00", 422),
    ],
)
async def test_bad_requests_are_4xx(client: httpx.AsyncClient, path: str, status: int) -> None:
    response = await client.get(path)
    assert response.status_code == status, response.text[:300]
    if path.startswith("/api/"):
        assert "detail" in response.json()
    else:
        assert "<h1>" in response.text


async def test_day_query_redirects_to_the_day_page(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/day?day={TODAY}")
    assert (response.status_code, response.headers["location"]) == (303, f"/day/{TODAY}")


async def test_read_only(client: httpx.AsyncClient) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert (await client.request(method, "/api/overview")).status_code == 405


async def test_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_openapi_document_lists_every_api_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert set(spec["paths"]) == {
        "/api/overview",
        "/api/today",
        "/api/day/{day}",
        "/api/wrapped",
        "/api/top/{kind}",
        "/api/search",
        "/api/artist/{artist_id}",
        "/api/track/{track_id}",
        "/api/album/{album_id}",
        "/api/health",
    }


async def test_static_assets_are_vendored(client: httpx.AsyncClient) -> None:
    echarts = await client.get("/static/vendor/echarts/echarts.min.js")
    assert echarts.status_code == 200 and len(echarts.content) > 900_000
    assert b"Apache" in echarts.content[:500]
    for name in ("app.js", "story.js", "charts.js", "app.css", "favicon.svg"):
        path = f"/static/{name}"
        assert (await client.get(path)).status_code == 200


def _cli_json(db_url: str, *args: str) -> object:
    result = CliRunner().invoke(cli, ["--db", db_url, *args, "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.usefixtures("tmp_home")
async def test_api_gives_the_cli_json(client: httpx.AsyncClient, web_db_url: str) -> None:
    """The dashboard shows the CLI's numbers: the same JSON documents, key for key."""
    pairs = [
        (f"/api/day/{TODAY}", ["report", "day", TODAY.isoformat()]),
        ("/api/wrapped?year=2026", ["report", "wrapped", "--year", "2026"]),
        ("/api/top/artists?limit=5", ["report", "top", "artists", "--limit", "5"]),
        (
            "/api/top/tracks?period=custom&from=2026-03-01&to=2026-03-10&by=minutes",
            ["report", "top", "tracks", "--from", "2026-03-01", "--to", "2026-03-10", "--by", "minutes"],
        ),
        # A month or year means the same days to both (insights.bound_day).
        (
            "/api/top/artists?from=2025&to=2026-02",
            ["report", "top", "artists", "--from", "2025", "--to", "2026-02"],
        ),
        (
            "/api/wrapped?from=2026-02&to=2026-02",
            ["report", "wrapped", "--from", "2026-02", "--to", "2026-02"],
        ),
        ("/api/search?q=artist", ["search", "artist"]),
        (f"/api/artist/{SEEDED.main_artist}", ["artist", SEEDED.main_artist]),
        (f"/api/track/{SEEDED.feat_track}", ["track", SEEDED.feat_track]),
    ]
    for path, command in pairs:
        api = (await client.get(path)).json()
        assert api == _cli_json(web_db_url, *command), path


async def test_health_reports_runs_gaps_and_enrichment(client: httpx.AsyncClient) -> None:
    data = (await client.get("/api/health")).json()
    assert data["last_successful_sync"]["outcome"] == "ok"
    assert data["last_sync"]["outcome"] == "failed"
    assert data["last_sync_age_hours"] == round(2 - 3 / 3600, 1)
    assert data["open_gaps"] == 1
    assert [r["outcome"] for r in data["runs"]] == ["failed", "ok"]
    assert data["enrichment"]["tracks_resolved"] == 2 and data["enrichment"]["tracks_total"] == 3
    assert data["token"]["present"] is False
    page = (await client.get("/health")).text
    assert "HTTP 503 &lt;script&gt;" in page
    assert XSS_ARTIST not in page


@pytest.mark.usefixtures("tmp_home")
async def test_health_extends_the_status_document(client: httpx.AsyncClient, web_db_url: str) -> None:
    """The Data health page shows what `brapped status` shows about the token, enrichment and summaries."""
    api = (await client.get("/api/health")).json()
    status = _cli_json(web_db_url, "status")
    assert isinstance(status, dict)
    for key in ("resume_after", "token", "enrichment", "summaries"):
        assert api[key] == status[key], key
