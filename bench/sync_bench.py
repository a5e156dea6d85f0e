"""API calls per sync against the emulator's request counters, compared with the minimum possible.

The minimum is what an oracle that knew the new plays in advance would need, counted independently
of brapped's code from the sync's outcome:
- recently-played: one page per 50 new plays, at least one per sync (nothing new still needs a call);
- `/me`: once, on the very first sync (whose plays are these?);
- token requests: one per access-token lifetime (an hour) of the run;
- artist details: one lookup per artist new to the database (development-mode apps may only look up
  one at a time), or one per 50 new artists per sync when batch lookups are allowed (extended mode).
"""

from __future__ import annotations

import math
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.report import Result, faster_ratio

TITLE = "Sync: API calls per sync vs the minimum possible"
NOTES = __doc__.split("\n", 2)[2].strip() + (
    "\n\nHourly syncs of a simulated listener, each with the default enrichment budget, through the real "
    "`brapped.pipeline.sync.sync` and token manager against the in-process emulator; calls counted by the "
    "emulator. Ratio = minimum / actual (1.00× is optimal)."
)

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
RECENTLY_PLAYED = "GET /v1/me/player/recently-played"
TOKEN = "POST /api/token"
TOKEN_LIFETIME = 3600


@dataclass
class Tally:
    syncs: int = 0
    new_plays: int = 0
    recently_played: int = 0
    recently_played_min: int = 0
    me: int = 0
    token: int = 0
    artist_lookups: int = 0
    artist_min: int = 0
    other: int = 0
    empty_sync_calls: list[int] | None = None
    wall: list[float] | None = None


def _run(mode: str, hours: int) -> Tally:
    from brapped.config import load_settings
    from brapped.emulator import DEFAULT_CLIENT_ID, EmulatedClock, Emulator
    from brapped.pipeline.sync import sync
    from brapped.spotify import connect
    from brapped.store import open_store

    home = Path(tempfile.mkdtemp(prefix="brapped-bench-sync-"))
    emu = Emulator(seed=5, mode=mode, clock=EmulatedClock(START))
    settings = load_settings(
        env={
            "SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID,
            "SPOTIFY_REFRESH_TOKEN": emu.issue_refresh_token(),
            "BRAPPED_TIMEZONE": "UTC",
        },
        home=home,
    )
    store = open_store(f"sqlite:///{home / 'brapped.db'}")
    client = connect(settings, emu.clock, transport=emu.transport())
    tally = Tally(empty_sync_calls=[], wall=[])
    batch = mode == "extended"
    try:
        for _ in range(hours):
            emu.counters.reset()
            started = time.perf_counter()
            result = sync(store, client, enrich_budget=int(settings.enrich_budget))
            tally.wall.append(time.perf_counter() - started)
            counts = dict(emu.counters)
            tally.syncs += 1
            tally.new_plays += result.new_plays
            tally.recently_played += counts.pop(RECENTLY_PLAYED, 0)
            tally.recently_played_min += max(1, math.ceil(result.new_plays / 50))
            tally.me += counts.pop("GET /v1/me", 0)
            tally.token += counts.pop(TOKEN, 0)
            lookups = counts.pop("GET /v1/artists/{id}", 0) + counts.pop("GET /v1/artists", 0)
            tally.artist_lookups += lookups
            tally.artist_min += math.ceil(result.new_artists / 50) if batch else result.new_artists
            tally.other += sum(n for key, n in counts.items() if key.split(" ", 1)[1].startswith("/v1/"))
            emu.clock.advance(3600)
        # Right after a sync nothing is new: the cheapest possible sync.
        for _ in range(3):
            emu.counters.reset()
            sync(store, client, enrich_budget=int(settings.enrich_budget))
            tally.empty_sync_calls.append(emu.counters.v1_total)
    finally:
        client.http.close()
        store.close()
        shutil.rmtree(home, ignore_errors=True)
    return tally


def run(quick: bool) -> list[Result]:
    """Hourly syncs for a day (quick: 4 hours), in development and in extended mode."""
    hours = 4 if quick else 48
    results: list[Result] = []
    for mode in ("development", "extended"):
        t = _run(mode, hours)
        assert t.empty_sync_calls is not None and t.wall is not None
        label = f"{mode} mode, {t.syncs} hourly syncs, {t.new_plays} new plays"
        empty = statistics.median(t.empty_sync_calls)
        results.append(
            Result(
                f"Web API calls, sync with nothing new ({mode})", empty, "calls", 1, faster_ratio(empty, 1)
            )
        )
        results.append(
            Result(
                f"recently-played calls ({mode})",
                t.recently_played,
                "calls",
                t.recently_played_min,
                faster_ratio(t.recently_played, t.recently_played_min),
                label,
            )
        )
        token_min = math.ceil(t.syncs * 3600 / TOKEN_LIFETIME)
        results.append(
            Result(
                f"token requests ({mode})",
                t.token,
                "requests",
                token_min,
                faster_ratio(t.token, token_min),
                label,
            )
        )
        results.append(
            Result(
                f"artist lookups ({mode})",
                t.artist_lookups,
                "calls",
                t.artist_min,
                faster_ratio(t.artist_lookups, t.artist_min) if t.artist_min else None,
                "single lookups (batch refused)" if mode == "development" else "batch lookups of up to 50",
            )
        )
        total = t.recently_played + t.me + t.artist_lookups + t.other
        minimum = t.recently_played_min + 1 + t.artist_min
        results.append(
            Result(
                f"all Web API calls ({mode})",
                total,
                "calls",
                minimum,
                faster_ratio(total, minimum),
                f"{label}; /me {t.me}, other {t.other}",
            )
        )
        wall_ms = statistics.median(t.wall) * 1000
        results.append(
            Result(
                f"time per sync, median ({mode})", wall_ms, "ms", None, None, "SQLite, in-process emulator"
            )
        )
    return results
