"""MusicBrainz requests for n new artists against the emulator's counters, compared with the minimum.

The minimum is counted from the emulator's truth, independently of brapped's code: ceil(n/100) URL
lookups, one name search per artist MusicBrainz has no Spotify link for, and one fact lookup per
artist that can be mapped (linked, or found under a name no other artist has). Requests refused for
going too fast must be 0, and the emulated time the pass takes must be about one second per request.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.report import Result, faster_ratio

TITLE = "MusicBrainz: requests per new artist vs the minimum possible"
NOTES = __doc__.split("\n", 2)[2].strip() + (
    "\n\nArtists from hourly syncs of a simulated listener (development mode); then one pass of the real "
    "`brapped.pipeline.artist_facts.enrich_artist_facts`, paced through the database, against the "
    "in-process emulator on emulated time. Ratio = minimum / actual (1.00× is optimal)."
)

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def run(quick: bool) -> list[Result]:
    import httpx

    from brapped.config import load_settings
    from brapped.emulator import DEFAULT_CLIENT_ID, EmulatedClock, Emulator
    from brapped.emulator.musicbrainz import fold
    from brapped.musicbrainz import DatabasePace, MusicBrainzClient
    from brapped.pipeline.artist_facts import enrich_artist_facts
    from brapped.pipeline.sync import sync
    from brapped.spotify import connect
    from brapped.store import open_store
    from brapped.store.tables import artists

    home = Path(tempfile.mkdtemp(prefix="brapped-bench-mb-"))
    emu = Emulator(seed=5, clock=EmulatedClock(START))
    settings = load_settings(
        env={"SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID, "SPOTIFY_REFRESH_TOKEN": emu.issue_refresh_token()},
        home=home,
    )
    store = open_store(f"sqlite:///{home / 'brapped.db'}")
    spotify = connect(settings, emu.clock, transport=emu.transport())
    mb = MusicBrainzClient(httpx.Client(transport=emu.transport()), emu.clock, DatabasePace(store, emu.clock))
    try:
        for _ in range(2 if quick else 72):
            sync(store, spotify, enrich_budget=0)
            emu.clock.advance(3600)
        with store.connect() as conn:
            names = {str(r.id): str(r.name) for r in conn.execute(artists.select())}
        truth = emu.musicbrainz
        shared = truth.ambiguous_names()
        linked = {a for a in names if a in truth.linked()}
        searched = {a for a in names if a not in linked and names[a].strip()}
        mappable = linked | {a for a in searched if a in truth.by_spotify and fold(names[a]) not in shared}
        minimum = math.ceil(len(names) / 100) + len(searched) + len(mappable)
        emu.counters.reset()
        started_emulated, started = emu.clock.now(), time.perf_counter()
        result = enrich_artist_facts(store, mb)
        wall = time.perf_counter() - started
        emulated = (emu.clock.now() - started_emulated).total_seconds()
    finally:
        spotify.http.close()
        mb.http.close()
        store.close()
        shutil.rmtree(home, ignore_errors=True)
    made = sum(n for key, n in emu.counters.items() if key.startswith("GET /ws/2/"))
    label = (
        f"{len(names)} new artists: {len(linked)} linked, {len(searched)} searched, {len(mappable)} mappable"
    )
    return [
        Result("MusicBrainz requests", made, "requests", minimum, faster_ratio(made, minimum), label),
        Result("requests refused for going too fast", truth.refused["rate"], "requests", 0, None),
        Result(
            "emulated seconds per request",
            emulated / made if made else 0.0,
            "s",
            1.0,
            None,
            f"{emulated:,.0f} s of emulated time for {made} requests (the contract: at most 1 per second)",
        ),
        Result(
            "wall time of the pass", wall, "s", None, None, f"{result.summary()}; SQLite, in-process emulator"
        ),
    ]
