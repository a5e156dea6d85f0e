"""Report results kept between requests until the data changes, and warmed before anyone asks.

On a long history a year's Wrapped or an all-time top list is costly SQL (docs/decisions.md,
"Dashboard"), yet the answer only changes when brapped writes: a sync adds plays, an import,
enrich or migrate records a run. The data version is read on every request (two small queries),
so a cached answer is never stale: any write makes every older entry unreachable.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Connection, func, select

from brapped.store.tables import plays, runs

T = TypeVar("T")
log = logging.getLogger(__name__)
MAX_ENTRIES = 128


def data_version(conn: Connection) -> tuple[Any, ...]:
    """What changes whenever brapped writes listening data or finishes a run."""
    newest_play = conn.execute(select(func.max(plays.c.id))).scalar_one()
    run_row = conn.execute(select(func.max(runs.c.id), func.max(runs.c.finished_at))).one()
    return (newest_play, run_row[0], run_row[1])


class _InFlight:
    """A computation under way: others asking for the same result wait for it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False
        self.value: Any = None


class ResultCache:
    """A small LRU of report results, keyed by what was asked and the data version.

    One computation per result at a time: a request for a result being computed (by the warm-up or
    another request) waits for it rather than running the same SQL beside it.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._in_flight: dict[Hashable, _InFlight] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.waits = 0

    def get_or_compute(self, conn: Connection, key: Hashable, compute: Callable[[], T]) -> T:
        full_key = (data_version(conn), key)
        with self._lock:
            if full_key in self._entries:
                self._entries.move_to_end(full_key)
                self.hits += 1
                value: T = self._entries[full_key]
                return value
            flight = self._in_flight.get(full_key)
            if flight is None:
                flight = self._in_flight[full_key] = _InFlight()
                self.misses += 1
                owner = True
            else:
                self.waits += 1
                owner = False
        if not owner:
            flight.done.wait()
            if flight.ok:
                shared: T = flight.value
                return shared
            return compute()  # the other computation failed: try again here, for this caller
        try:
            result = compute()
        except BaseException:
            with self._lock:
                del self._in_flight[full_key]
            flight.done.set()
            raise
        with self._lock:
            self._entries[full_key] = result
            self._entries.move_to_end(full_key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            del self._in_flight[full_key]
        flight.value, flight.ok = result, True
        flight.done.set()
        return result

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._entries), "hits": self.hits, "misses": self.misses, "waits": self.waits}


class Warmer:
    """A background thread that computes the dashboard's usual pages whenever the data changes."""

    def __init__(self, warm: Callable[[], tuple[Any, ...]], interval: float = 5.0) -> None:
        self._warm = warm
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.warmed_version: tuple[Any, ...] | None = None
        self.rounds = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="brapped-dashboard-warmer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.warmed_version = self._warm()
                self.rounds += 1
            except Exception:  # a failed warm-up only costs speed; requests compute on demand
                log.warning("warming the dashboard failed", exc_info=True)
            self._stop.wait(self.interval)
