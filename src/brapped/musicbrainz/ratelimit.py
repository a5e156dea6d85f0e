"""At most one MusicBrainz request per interval (1 s) across the whole program.

MusicBrainz blocks an address that sends more than one request per second on average. `brapped run`
and `brapped enrich` may run at once, so the pace cannot live in one process: `DatabasePace` keeps the
next allowed request time in the `state` table and every request reserves its slot in a write
transaction (BEGIN IMMEDIATE on SQLite, an advisory lock of its own on PostgreSQL), then waits for it.
Two processes therefore get distinct slots one interval apart. `LocalPace` does the same in memory
for a client that has no database (tests, one-off tools).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Protocol

from brapped.clock import Clock
from brapped.store import Store
from brapped.store.locking import lock
from brapped.store.state import get_state, set_state

_PACE_KEY = 0x6D627061  # "mbpa": PostgreSQL advisory lock of the pace alone (not the writers' lock)
INTERVAL = 1.0  # seconds between two requests: the contract's "one per second"
NEXT_REQUEST = "musicbrainz_next_request"  # state key: ISO instant of the next free slot


class Pace(Protocol):
    """Where the client waits before every request."""

    def wait(self) -> None:
        """Return when the next request may be sent (sleeping on the injected clock)."""
        ...


def _slot(now: datetime, next_free: datetime | None) -> datetime:
    return now if next_free is None or next_free <= now else next_free


class LocalPace:
    """The pace within one process (thread-safe)."""

    def __init__(self, clock: Clock, interval: float = INTERVAL) -> None:
        self.clock = clock
        self.interval = timedelta(seconds=interval)
        self._next: datetime | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self.clock.now()
            slot = _slot(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self.clock.sleep((slot - now).total_seconds())


class DatabasePace:
    """The pace shared by every process using the same database."""

    def __init__(self, store: Store, clock: Clock, interval: float = INTERVAL) -> None:
        self.store = store
        self.clock = clock
        self.interval = timedelta(seconds=interval)

    def wait(self) -> None:
        with self.store.begin(immediate=True) as conn:
            # On PostgreSQL a lock of its own, so a long import holding the writers' lock does not
            # stall MusicBrainz; on SQLite BEGIN IMMEDIATE is the lock.
            lock(conn, _PACE_KEY)
            now = self.clock.now()
            stored = get_state(conn, NEXT_REQUEST)
            next_free = datetime.fromisoformat(stored.replace("Z", "+00:00")) if stored else None
            if next_free is not None and next_free - now > 10 * self.interval:
                # A slot far in the future can only come from a clock that jumped back: do not
                # stall for hours because of it.
                next_free = None
            slot = _slot(now, next_free)
            set_state(conn, NEXT_REQUEST, (slot + self.interval).isoformat(timespec="microseconds"), now)
        if slot > now:
            self.clock.sleep((slot - now).total_seconds())


__all__ = ["INTERVAL", "NEXT_REQUEST", "DatabasePace", "LocalPace", "Pace"]
