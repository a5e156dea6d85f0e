"""`brapped demo`: the whole product on a simulated listener, offline, with nothing to configure.

Every step runs the real code a user's data goes through; only Spotify is the emulator
(`brapped.emulator`, in-process, its own clock so a month passes in seconds):

1. authorise through the real PKCE flow (`brapped.spotify.authorise`): the consent URL is "opened"
   by asking the emulator, which approves and redirects to brapped's real loopback callback server;
2. sync hourly for `days` simulated days (`brapped.pipeline.sync.sync`, with its enrichment budget);
3. import the listener's extended streaming history of the year before (`brapped.pipeline.importing`),
   which merges with the plays sync already saw;
4. enrich: resolve the tracks only the export named and fill in artists and albums
   (`brapped.pipeline.enrich.enrich`);
5. genres and artist facts from the emulator's MusicBrainz (`brapped.pipeline.artist_facts`), paced
   at one request per second of emulated time.

The database is embedded SQLite in the demo home; the CLI (`brapped.cli.demo`) then prints today's
report and a Wrapped of the last twelve months, and `--serve` opens the dashboard on it.
"""

from __future__ import annotations

import logging
import shutil
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from brapped.config import Settings, load_settings, make_home
from brapped.errors import BrappedError
from brapped.store import Store, open_store
from brapped.store.tables import artists, plays, tracks

log = logging.getLogger(__name__)

DEMO_SEED = 2026
DEMO_DAYS = 30
MARKER = ".brapped-demo"
# RFC 6761 reserves .invalid: if a request ever slipped past the in-process emulator it would fail
# to resolve instead of reaching anything real.
EMULATOR_URL = "http://spotify-emulator.invalid"
# The enrichment after the import resolves at most this many tracks (single lookups, as a
# development-mode app must); what is left is shown as the backlog `brapped enrich` would finish.
RESOLVE_BUDGET = 4000

Progress = Callable[[str, int, int], None]
"""Called with (step, done, total) as the demo advances."""


class DemoError(BrappedError):
    """The demo cannot run where it was asked to (a home that holds real data...)."""


@dataclass
class DemoResult:
    """What the demo did, for the CLI to show."""

    home: Path
    db_url: str
    user_id: str
    display_name: str | None
    sync_from: datetime
    now: datetime
    auth_flow: str
    syncs: int = 0
    synced_plays: int = 0
    sync_api_calls: int = 0
    token_requests: int = 0
    gaps: int = 0
    imported: dict[str, Any] = field(default_factory=dict)
    import_files: list[str] = field(default_factory=list)
    resolved: tuple[int, int] = (0, 0)
    enrich_api_calls: int = 0
    musicbrainz: str = ""  # "N of M artists mapped, K with genres"
    musicbrainz_requests: int = 0
    plays: int = 0
    tracks: int = 0
    artists: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())


def prepare_home(home: Path) -> None:
    """Create the demo home, or empty it when it is one from an earlier demo.

    Refuses a non-empty folder that no demo made: the demo must never wipe a real brapped home.
    """
    if home.exists() and any(home.iterdir()) and not (home / MARKER).exists():
        raise DemoError(
            f"{home} is not empty and was not made by `brapped demo`: "
            "choose an empty folder with --home (the demo replaces its contents)"
        )
    if home.exists():
        for entry in home.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    make_home(home)
    (home / MARKER).write_text("made by `brapped demo`; its contents are replaced on every run\n")


def demo_settings(home: Path, timezone: str | None = None) -> Settings:
    """Settings isolated from the user's own: nothing from their environment or config applies
    (`timezone`, when given, is validated; None means the system's zone)."""
    from brapped.emulator import DEFAULT_CLIENT_ID

    return load_settings(
        flags={
            "client_id": DEFAULT_CLIENT_ID,
            "api_url": f"{EMULATOR_URL}/v1",
            "accounts_url": EMULATOR_URL,
            "musicbrainz_url": f"{EMULATOR_URL}/ws/2",
            "timezone": timezone,
        },
        env={},
        home=home,
    )


def _browser(emu: Any) -> Callable[[str], None]:
    """Stands in for the user's browser: the emulator approves, then its redirect is followed to
    brapped's loopback callback server over real HTTP, as a browser would."""

    def open_url(url: str) -> None:
        answer = emu.handle(httpx.Request("GET", url))
        location = answer.headers.get("location")
        if answer.status_code not in (302, 303) or not location:
            raise DemoError(f"the emulator did not approve the authorisation (HTTP {answer.status_code})")
        # urllib, not httpx: httpx logs request URLs, and this one carries the authorisation code.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(location, timeout=10) as reply:
            reply.read()

    return open_url


def run_demo(
    home: Path,
    *,
    days: int = DEMO_DAYS,
    seed: int = DEMO_SEED,
    now: datetime | None = None,
    timezone: str | None = "UTC",
    export_days: int = 365,
    resolve_budget: int = RESOLVE_BUDGET,
    progress: Progress | None = None,
) -> DemoResult:
    """Run the demo into `home` (see the module docstring); returns what happened.

    `now` is when the simulated month ends (default: the current hour), so "today" in the reports
    is today. The export covers the `export_days` before the syncs. The same arguments always give
    the same database.
    """
    from brapped import musicbrainz
    from brapped.emulator import EmulatedClock, Emulator, write_export
    from brapped.pipeline.artist_facts import enrich_artist_facts
    from brapped.pipeline.enrich import enrich
    from brapped.pipeline.importing import import_paths
    from brapped.pipeline.sync import sync
    from brapped.spotify import authorise, connect

    def step(name: str, done: int, total: int) -> None:
        if progress is not None:
            progress(name, done, total)

    end = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    sync_from = end - timedelta(days=days)
    prepare_home(home)
    settings = demo_settings(home, timezone)
    clock = EmulatedClock(sync_from)
    emu = Emulator(seed=seed, mode="development", clock=clock)
    transport = emu.transport()
    timings: dict[str, float] = {}

    started = time.perf_counter()
    step("authorise", 0, 1)
    auth = authorise(settings, clock, _browser(emu), port=0, timeout=30, transport=transport)
    step("authorise", 1, 1)
    timings["authorise"] = time.perf_counter() - started
    result = DemoResult(
        home=home,
        db_url=settings.db_url,
        user_id=str(auth.tokens.user_id),
        display_name=auth.tokens.display_name,
        sync_from=sync_from,
        now=end,
        auth_flow="pkce" if auth.pkce else "client_secret",
    )

    store = open_store(settings.db_url)
    client = connect(settings, clock, transport=transport)
    try:
        started = time.perf_counter()
        hours = days * 24
        for hour in range(hours + 1):
            synced = sync(store, client, enrich_budget=int(settings.enrich_budget))
            result.syncs += 1
            result.synced_plays += synced.new_plays
            result.sync_api_calls += synced.api_calls
            result.token_requests += synced.token_requests
            result.gaps += len(synced.gaps)
            step("sync", hour, hours)
            if hour < hours:
                clock.advance(3600)
        timings["sync"] = time.perf_counter() - started

        started = time.perf_counter()
        step("import", 0, 1)
        exports = home / "export"
        archive = write_export(
            emu, exports, sync_from - timedelta(days=export_days), sync_from, formats=("extended",)
        )
        imported = import_paths(store, [archive], clock, user_id=result.user_id)
        if not imported.ok:
            failed = "; ".join(imported.errors)
            raise DemoError(f"the demo's own export did not import: {failed}")
        result.imported = imported.totals()
        result.import_files = [f.name for f in imported.imported]
        step("import", 1, 1)
        timings["import"] = time.perf_counter() - started

        started = time.perf_counter()
        step("enrich", 0, 1)
        enriched = enrich(store, client, max_calls=resolve_budget, resolve=True)
        result.enrich_api_calls = enriched.api_calls
        result.resolved = (enriched.resolved_total, enriched.tracks_total)
        step("enrich", 1, 1)
        timings["enrich"] = time.perf_counter() - started

        started = time.perf_counter()
        facts_client = musicbrainz.connect(settings, clock, store, transport=transport)
        try:
            facts = enrich_artist_facts(store, facts_client, progress=step)
        finally:
            facts_client.http.close()
        result.musicbrainz = facts.summary()
        result.musicbrainz_requests = facts.requests
        timings["musicbrainz"] = time.perf_counter() - started
        _count(store, result)
    finally:
        client.http.close()
        store.close()
    result.timings = timings
    return result


def _count(store: Store, result: DemoResult) -> None:
    with store.connect() as conn:
        result.plays = int(conn.execute(select(func.count()).select_from(plays)).scalar_one())
        result.tracks = int(conn.execute(select(func.count()).select_from(tracks)).scalar_one())
        result.artists = int(conn.execute(select(func.count()).select_from(artists)).scalar_one())
