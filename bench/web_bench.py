"""Dashboard latency: p50/p95 of every page and API route on a 1,000,000-play SQLite database.

`brapped serve` runs in its own process (as a user runs it) on a database from `bench.generate`
whose history ends now, so "today", "7 days" and this year's Wrapped have data; requests come one
at a time over HTTP from this process, after the server's background warm-up has finished, once to
warm up and then `REQUESTS` times. The same routes are also timed uncached, in-process, with an
empty result cache: what the first visitor after a sync waits for a page the warm-up does not cover.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.generate import generate_database
from bench.report import Result, percentile

TITLE = "Dashboard"
BUDGET_MS = 300
REQUESTS = 20
TIMEZONE = "Europe/Berlin"
NOTES = (
    f"`brapped serve` (uvicorn, one process) on a generated 1,000,000-play SQLite database whose history "
    f"ends at the time of the run, timezone {TIMEZONE}; sequential requests over HTTP from another "
    f"process, {REQUESTS} per route after the server's background warm-up and one warm-up request. "
    f"Value: p95 in ms (target: under {BUDGET_MS} ms), answered from the dashboard's result cache, "
    "which is valid until the data changes (a sync, import or enrich). The notes give p50, and "
    "*uncached*: the same route computed from scratch (in-process, empty cache, no kept reports), "
    "which is what the first visitor waits for a page the warm-up does not cover; *kept*, for a "
    "closed period's Wrapped: the same with the kept result in the database (brapped.insights.report_cache: "
    "stored when first computed, by the warm-up or anyone), which is what the first visitor after a "
    "restart or a sync waits; the database's report summaries "
    "(sums of plays older than a week, kept by `brapped run`, import and enrich and rebuilt by the "
    "warm-up; see docs/reports.md) are in place, as they are on any database brapped keeps. "
    "(The warm-up covers today, the overview "
    "presets, the Wrapped of each of the last six years with plays, the all-time top lists and the "
    "pages of their top 5 artists, "
    "tracks and albums; the story routes below use the all-time #1, so they are covered; search results "
    "are not, but the warm-up folds new names for search, so the first search does not). The uncached "
    "figures are measured in the run's order: the first search route also folds every name of the "
    "freshly generated database once. "
    "Pages are full HTML responses "
    "(assets are static files, cached by browsers, not measured)."
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _routes(client: httpx.Client, today: str, year: int) -> list[str]:
    """Every page and API route, with ids and a search word taken from the data itself."""
    artist = client.get("/api/top/artists?limit=1").json()["items"][0]["id"]
    track_row = client.get("/api/top/tracks?limit=1").json()["items"][0]
    album = client.get("/api/top/albums?limit=1").json()["items"][0]["id"]
    word = track_row["name"].split()[0][:5]
    track = track_row["id"]
    yesterday = (datetime.fromisoformat(today) - timedelta(days=1)).date().isoformat()
    pages = [
        "/",
        "/?period=today",
        "/?period=7d",
        "/?period=year",
        "/?period=all",
        "/day",
        f"/day/{yesterday}",
        "/wrapped",
        f"/wrapped?year={year - 1}",
        f"/search?q={word}",
        f"/artist/{artist}",
        f"/track/{track}",
        f"/album/{album}",
        "/health",
    ]
    api = [
        "/api/overview",
        "/api/overview?period=all",
        "/api/today",
        f"/api/day/{yesterday}",
        "/api/wrapped",
        f"/api/wrapped?year={year - 1}",
        "/api/top/artists",
        "/api/top/tracks?period=year&by=minutes&limit=100",
        "/api/top/albums?period=30d",
        "/api/top/genres",
        # What the search page asks while someone types the word: a letter, two, then all of it.
        f"/api/search?q={word[:1]}",
        f"/api/search?q={word[:2]}",
        f"/api/search?q={word}",
        f"/api/artist/{artist}",
        f"/api/track/{track}",
        f"/api/album/{album}",
        "/api/health",
    ]
    return pages + api


def _start_server(url: str, home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAPPED_", "SPOTIFY_"))}
    env["BRAPPED_HOME"] = str(home)
    command = [sys.executable, "-m", "brapped", "--db", url, "--timezone", TIMEZONE]
    command += ["serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_ready(client: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            error = server.stderr.read().decode() if server.stderr else ""
            raise RuntimeError(f"brapped serve exited: {error}")
        try:
            client.get("/static/favicon.svg")
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("brapped serve did not start within 60 s")


def _uncached(url: str, home: Path, routes: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds each route takes with an empty result cache and no kept reports (in-process, one
    request each); and, for the routes whose report was kept (a closed period's Wrapped), the
    seconds with an empty result cache but the kept report in place (after a restart or a sync)."""
    import anyio
    from sqlalchemy import delete, func, select

    from brapped.config import load_settings
    from brapped.store import open_store
    from brapped.store.tables import kept_reports
    from brapped.web import create_app
    from brapped.web.cache import ResultCache

    store = open_store(url)
    app = create_app(store, load_settings({"timezone": TIMEZONE}, env={}, home=home))
    board = app.state.dashboard
    timings: dict[str, float] = {}
    from_kept: dict[str, float] = {}

    def kept_count() -> int:
        with store.begin() as conn:
            return int(conn.execute(select(func.count()).select_from(kept_reports)).scalar_one())

    async def measure_all() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client:
            for route in routes:
                board.cache = ResultCache()
                with store.begin() as conn:
                    conn.execute(delete(kept_reports))
                started = time.perf_counter()
                response = await client.get(route)
                timings[route] = time.perf_counter() - started
                response.raise_for_status()
                if kept_count():
                    board.cache = ResultCache()
                    started = time.perf_counter()
                    response = await client.get(route)
                    from_kept[route] = time.perf_counter() - started
                    response.raise_for_status()

    try:
        anyio.run(measure_all)
    finally:
        store.close()
    return timings, from_kept


def _wait_warm(client: httpx.Client, timeout: float) -> float:
    """Seconds until the server's first background warm-up round has finished."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if (client.get("/api/health").json()["dashboard"]["warm_rounds"] or 0) >= 1:
            return time.monotonic() - started
        time.sleep(1)
    raise RuntimeError(f"the dashboard warm-up did not finish within {timeout:.0f} s")


def run(quick: bool) -> list[Result]:
    plays = 3_000 if quick else 1_000_000
    repeat = 2 if quick else REQUESTS
    folder = Path(tempfile.mkdtemp(prefix="brapped-web-bench-"))
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    url = f"sqlite:///{folder / 'bench.db'}"
    results: list[Result] = []
    try:
        summary = generate_database(url, plays=plays, seed=1, end=now)
        assert summary.plays == plays
        port = _free_port()
        server = _start_server(url, folder / "home", port)
        warm_seconds = 0.0
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
                _wait_ready(client, server)
                warm_seconds = _wait_warm(client, 1800)
                today = now.astimezone(_zone()).date().isoformat()
                routes = _routes(client, today, now.year)
                server.terminate()
                server.wait(10)
                uncached, from_kept = _uncached(url, folder / "home", routes)
                server = _start_server(url, folder / "home", port)
                _wait_ready(client, server)
                _wait_warm(client, 1800)
                for route in routes:
                    started = time.perf_counter()
                    first = client.get(route)
                    cold = time.perf_counter() - started
                    if first.status_code != 200:
                        raise RuntimeError(f"{route}: HTTP {first.status_code}: {first.text[:200]}")
                    samples = []
                    for _ in range(repeat):
                        started = time.perf_counter()
                        response = client.get(route)
                        samples.append(time.perf_counter() - started)
                        response.raise_for_status()
                    p50, p95 = percentile(samples, 50) * 1000, percentile(samples, 95) * 1000
                    verdict = "" if p95 < BUDGET_MS else f"; over the {BUDGET_MS} ms target"
                    cold_ms = uncached[route] * 1000
                    slow = "" if cold_ms < BUDGET_MS else " (over the target)"
                    if route in from_kept:
                        slow += f"; kept {from_kept[route] * 1000:.0f} ms"
                    results.append(
                        Result(
                            name=f"GET {route}",
                            value=round(p95, 1),
                            unit="ms p95",
                            notes=f"p50 {p50:.0f} ms; first request {cold * 1000:.0f} ms; "
                            f"uncached {cold_ms:.0f} ms{slow}{verdict}",
                            samples=[round(s * 1000, 2) for s in samples],
                        )
                    )
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results.append(
        Result(
            name="background warm-up after start (or after new data)",
            value=round(warm_seconds, 1),
            unit="s",
            notes="the server answers meanwhile; uncovered pages compute on demand; on this fresh "
            "database it includes building the report summaries once",
        )
    )
    return results


def _zone():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(TIMEZONE)
