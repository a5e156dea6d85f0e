"""Dashboard latency: p50/p95 of every page and API route on a 1,000,000-play SQLite database.

`brapped serve` runs in its own process (as a user runs it) on a database from `bench.generate`
whose history ends now, so "today", "7 days" and this year's Wrapped have data; requests come one
at a time over HTTP from this process. Each route is requested once to warm up (that first time is
reported too), then `REQUESTS` times.
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
    f"process, {REQUESTS} per route after one warm-up request. Value: p95 in ms (target: under "
    f"{BUDGET_MS} ms); the notes give p50 and the first (cold) request. Pages are full HTML responses "
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
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                _wait_ready(client, server)
                today = now.astimezone(_zone()).date().isoformat()
                for route in _routes(client, today, now.year):
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
                    results.append(
                        Result(
                            name=f"GET {route}",
                            value=round(p95, 1),
                            unit="ms p95",
                            notes=f"p50 {p50:.0f} ms; first request {cold * 1000:.0f} ms{verdict}",
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
    return results


def _zone():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(TIMEZONE)
