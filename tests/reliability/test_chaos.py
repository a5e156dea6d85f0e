"""Chaos sync: 14 simulated days of hourly syncs while Spotify misbehaves, and not one play lost.

About 10% of all requests (Web API and token endpoint) fail: 5xx answers, dropped connections,
bursts of 429 with short Retry-After, and early 401s; access tokens expire every hour and each
refresh rotates the PKCE refresh token. A sync that still fails is simply retried an hour later, as
`brapped run` would. The plays table must equal the listener's truth, without duplicates.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import func, select

from brapped.emulator import EmulatedClock, Emulator, Fault
from brapped.errors import BrappedError
from brapped.pipeline.sync import sync
from brapped.spotify import connect
from brapped.store import Store
from brapped.store.tables import plays
from tests.reliability.conftest import START, api_truth, second
from tests.spotify.harness import make_settings


class ChaosTransport(httpx.BaseTransport):
    """Before passing a request to the emulator, arms one of its faults for it ~`rate` of the time."""

    def __init__(self, emu: Emulator, rng: random.Random, rate: float = 0.10) -> None:
        self.emu = emu
        self.rng = rng
        self.rate = rate
        self.inner = emu.transport()
        self.injected: Counter[str] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        roll = self.rng.random() / self.rate
        if roll < 1:
            api = path.startswith("/v1/")
            if roll < 0.45:
                self.emu.faults.add(Fault("5xx", path=path, status=self.rng.choice((500, 502, 503))))
                self.injected["5xx"] += 1
            elif roll < 0.75:
                self.emu.faults.add(Fault("drop", path=path))
                self.injected["drop"] += 1
            elif roll < 0.9 and api:
                burst = self.rng.randint(2, 4)
                self.emu.faults.add(Fault("429", path=path, count=burst, retry_after=self.rng.randint(1, 30)))
                self.injected["429"] += burst
            elif api:
                self.emu.faults.add(Fault("401", path=path))  # the access token "expired" early
                self.injected["401"] += 1
        return self.inner.handle_request(request)


def test_fourteen_chaotic_days_lose_nothing(store: Store, tmp_path: Path) -> None:
    emu = Emulator(seed=31, clock=EmulatedClock(START))
    settings = make_settings(tmp_path / "home", emu.issue_refresh_token(pkce=True))
    chaos = ChaosTransport(emu, random.Random(13))
    client = connect(settings, emu.clock, transport=chaos)
    failures: list[str] = []
    refresh_tokens: set[str] = set()
    try:
        for _ in range(14 * 24):
            try:
                sync(store, client, enrich_budget=5)
            except BrappedError as exc:  # retried next hour, like the scheduler does
                failures.append(f"{type(exc).__name__}: {exc}")
            refresh_tokens.add(client.tokens.tokens.refresh_token)  # type: ignore[attr-defined]
            emu.clock.advance(3600)
        sync(store, client)
    finally:
        client.http.close()

    with store.connect() as conn:
        rows = [
            (second(r.played_at), r.track_id)
            for r in conn.execute(select(plays.c.played_at, plays.c.track_id))
        ]
        first = conn.execute(select(func.min(plays.c.played_at))).scalar_one()
    assert len(rows) == len(set(rows)), "a play was stored twice"
    assert set(rows) == api_truth(emu, first, emu.clock.now())
    # The chaos really happened, and rotation never locked the account out.
    assert min(chaos.injected[k] for k in ("5xx", "drop", "429", "401")) >= 5, chaos.injected
    assert sum(chaos.injected.values()) >= 50
    assert len(refresh_tokens) > 14 * 20  # a new refresh token (nearly) every hour
    assert not [f for f in failures if "brapped auth" in f], failures
    assert len(failures) <= 5, failures
