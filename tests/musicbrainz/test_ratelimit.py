"""One request per second across the program: measured on an injected clock against the emulator,
and with two processes sharing one database."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from brapped.emulator import EmulatedClock, Emulator
from brapped.musicbrainz import DatabasePace, LocalPace, MusicBrainzClient, spotify_url, user_agent
from brapped.store import Store
from tests.conftest import REPO


def test_requests_are_a_second_apart_on_an_injected_clock(store: Store) -> None:
    for database in (False, True):
        emu = Emulator(seed=2, clock=EmulatedClock())
        sent: list[float] = []

        def handler(request: httpx.Request, emu: Emulator = emu, sent: list[float] = sent) -> httpx.Response:
            sent.append(emu.clock.now().timestamp())
            assert request.headers["user-agent"] == user_agent("me@example.com")
            assert request.url.params["fmt"] == "json"
            return emu.handle(request)

        pace = DatabasePace(store, emu.clock) if database else LocalPace(emu.clock)
        client = MusicBrainzClient(
            httpx.Client(transport=httpx.MockTransport(handler)), emu.clock, pace, contact="me@example.com"
        )
        ids = list(emu.catalogue.artists)
        for i in range(6):
            client.urls([spotify_url(ids[i])])
        gaps = [b - a for a, b in itertools.pairwise(sent)]
        assert len(sent) == 6 and all(g >= 1.0 for g in gaps), gaps
        assert max(gaps) < 1.01  # no needless waiting either
        assert emu.musicbrainz.refused == {"rate": 0, "user_agent": 0}


def test_a_fast_client_is_refused_by_the_emulator() -> None:
    emu = Emulator(seed=2)
    client = MusicBrainzClient(
        httpx.Client(transport=emu.transport()), emu.clock, LocalPace(emu.clock, 0.0), max_retries=0
    )
    refused = 0
    for spotify_id in list(emu.catalogue.artists)[:6]:
        try:
            client.urls([spotify_url(spotify_id)])
        except Exception:
            refused += 1
    assert refused == 3 == emu.musicbrainz.refused["rate"]


def test_an_anonymous_user_agent_is_refused() -> None:
    emu = Emulator(seed=2)
    response = httpx.Client(transport=emu.transport()).get(
        "https://musicbrainz.org/ws/2/artist", params={"query": "x", "fmt": "json"}
    )
    assert response.status_code == 403 and emu.musicbrainz.refused["user_agent"] == 1


WORKER = textwrap.dedent(
    """
    import sys, time
    from brapped.clock import SystemClock
    from brapped.musicbrainz import DatabasePace
    from brapped.store import open_store
    store = open_store(sys.argv[1])
    pace = DatabasePace(store, SystemClock(), interval=float(sys.argv[2]))
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(int(sys.argv[3])):
        pace.wait()
        print(time.time(), flush=True)
    """
)


def test_two_processes_share_the_pace(sqlite_url: str, tmp_path: Path) -> None:
    interval, each = 0.3, 5
    Store_ = __import__("brapped.store", fromlist=["open_store"]).open_store
    Store_(sqlite_url).close()  # migrated once, before the workers start
    env = {"PYTHONPATH": f"{REPO / 'src'}"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, sqlite_url, str(interval), str(each)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:  # both start asking at (nearly) the same moment
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    stamps: list[float] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        stamps += [float(line) for line in out.split()]
    stamps.sort()
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) == 2 * each
    # Each slot is reserved in a write transaction, one interval after the last one reserved by
    # either process: on average one per interval, and never two at once (waking up and printing
    # on a busy machine jitters single gaps, so those get slack).
    assert stamps[-1] - stamps[0] >= (len(stamps) - 1) * interval - 0.05, gaps
    assert min(gaps) >= interval / 2, gaps
