"""Shared pieces of the reliability suite: a served emulator, brapped in subprocesses, kill points,
and ground truths computed from the emulator or the export files, never from brapped's own code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from brapped.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatedClock,
    Emulator,
    serve_in_thread,
)
from brapped.store.engine import parse_url
from tests.spotify.harness import api_visible

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
Key = tuple[datetime, str]  # (end of the play to the second, track or episode id)


@dataclass
class Served:
    """An emulator behind real HTTP, for brapped running in other processes."""

    emu: Emulator
    url: str

    def env(self, *, pkce: bool = False) -> dict[str, str]:
        """Spotify settings for a headless brapped: a client with its secret (refresh tokens are not
        rotated, so a kill during a refresh cannot lock the account out) or PKCE."""
        env = {
            "SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID,
            "SPOTIFY_REFRESH_TOKEN": self.emu.issue_refresh_token(pkce=pkce),
            "BRAPPED_SPOTIFY_API_URL": f"{self.url}/v1",
            "BRAPPED_SPOTIFY_ACCOUNTS_URL": self.url,
        }
        if not pkce:
            env["SPOTIFY_CLIENT_SECRET"] = DEFAULT_CLIENT_SECRET
        return env


@pytest.fixture
def served() -> Iterator[Served]:
    emu = Emulator(seed=21, clock=EmulatedClock(START))
    with serve_in_thread(emu) as url:
        yield Served(emu, url)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without any brapped or Spotify setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAPPED_", "SPOTIFY_"))}
    env.update({"BRAPPED_HOME": str(home), "BRAPPED_TIMEZONE": "UTC", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """`python -m brapped ARGS` in a new process."""
    return subprocess.Popen(
        [sys.executable, "-m", "brapped", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run brapped to completion; fails the test with its stderr when it does not exit 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "brapped", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"brapped {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
    return proc


def kill_when(
    proc: subprocess.Popen[str],
    ready: Callable[[], bool],
    delay: float,
    timeout: float = 60,
    *,
    probe: Probe | None = None,
) -> bool:
    """SIGKILL `proc` `delay` seconds after `ready()` first holds. Returns False when the process had
    already finished by then (not a crash point), True when it was killed mid-run.

    `probe`: the database the process wrote; returns only once the server is done with the killed
    process's sessions (see `Probe.settle`), so what is read next is what the crash left.
    """
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            proc.communicate()
            return False
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            raise AssertionError("the subprocess never reached the kill point")
        time.sleep(0.005)
    if delay:
        time.sleep(delay)
    if proc.poll() is not None:
        proc.communicate()
        return False
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    if probe is not None:
        probe.settle()
    if proc.returncode == 0:  # it finished in the instant between the check above and the signal
        return False
    assert proc.returncode == -signal.SIGKILL
    return True


class Probe:
    """Reads a database another process is writing (one short query at a time)."""

    def __init__(self, url: str) -> None:
        parsed = parse_url(url)
        args: dict[str, Any] = {"timeout": 30} if parsed.get_backend_name() == "sqlite" else {}
        self.engine: Engine = create_engine(parsed, connect_args=args, pool_pre_ping=True)

    def scalar(self, sql: str) -> Any:
        try:
            with self.engine.connect() as conn:
                return conn.execute(text(sql)).scalar()
        except Exception:  # the table may not exist yet, or the file be locked for a moment
            return None

    def settle(self, timeout: float = 30) -> None:
        """Wait until no other session of this PostgreSQL database is busy (in a statement or a
        transaction).

        A client killed just after sending COMMIT leaves the server to finish that commit: reading
        at once, one query could miss a file's row that the next one finds the plays of.
        SQLite has no server: a dead process commits nothing more.
        """
        if self.engine.dialect.name != "postgresql":
            return
        deadline = time.monotonic() + timeout
        while self.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state <> 'idle'"
        ):
            if time.monotonic() > deadline:
                raise AssertionError("the killed process's database sessions did not end")
            time.sleep(0.01)

    def count(self, table: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {table}") or 0)

    def close(self) -> None:
        self.engine.dispose()


def second(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(microsecond=0)


def api_truth(emu: Emulator, first: datetime, last: datetime) -> set[Key]:
    """Plays recently-played shows that ended in [first, last], to the second."""
    return {
        (second(p.played_at), p.id)
        for p in emu.ground_truth(first, last + timedelta(milliseconds=1))
        if api_visible(p)
    }


def _real_end(record: dict[str, Any]) -> datetime:
    """When a play ended, by docs/merge.md's rule written out again: `ts`, except for a play marked
    offline whose `offline_timestamp` (seconds here, milliseconds in endsong) plus `ms_played` ends
    before `ts` (within a second) and at most 30 days before it."""
    ts = datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    start = record.get("offline_timestamp")
    if record.get("offline") and start:
        start_ms = start if start > 10**11 else start * 1000
        end = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=start_ms + record["ms_played"])
        if end < ts + timedelta(seconds=1) and ts - end <= timedelta(days=30):
            return end
    return ts


def export_truth(paths: list[Path]) -> tuple[set[Key], set[Key]]:
    """(music, spoken) plays in extended-history files, read with json, not with brapped."""
    music: set[Key] = set()
    spoken: set[Key] = set()
    for path in paths:
        for record in json.loads(path.read_bytes()):
            when = datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if record.get("spotify_track_uri"):
                music.add((second(_real_end(record)), record["spotify_track_uri"].rsplit(":", 1)[1]))
            elif record.get("spotify_episode_uri"):  # episodes are not moved (no offline column)
                spoken.add((when, record["spotify_episode_uri"].rsplit(":", 1)[1]))
    return music, spoken


def stored_plays(probe: Probe, table: str = "plays", item: str = "track_id") -> list[Key]:
    """Every stored play as (second, id); a list so that duplicates show."""
    with probe.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT played_at, {item} FROM {table}")).all()
    out: list[Key] = []
    for at, ident in rows:
        if isinstance(at, str):
            at = datetime.fromisoformat(at).replace(tzinfo=UTC)
        out.append((second(at), str(ident)))
    return out
