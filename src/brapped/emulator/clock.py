"""Emulated time: a clock that tests move by hand, so weeks of listening pass in seconds."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from brapped.clock import Clock

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


class EmulatedClock:
    """A `brapped.clock.Clock` whose time only moves when told to (`advance`, `set`, `sleep`)."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = _aware(start)
        # The emulator served over HTTP reads the clock from another thread.
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The emulated current time (aware, UTC)."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Sleeping advances emulated time and returns at once."""
        if seconds > 0:
            self.advance(seconds)

    def advance(self, delta: float | timedelta) -> datetime:
        """Move time forward by seconds or a timedelta; returns the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("an emulated clock never goes backwards with advance(); use set()")
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to a given time (either direction); returns it as aware UTC."""
        with self._lock:
            self._now = _aware(when)
            return self._now


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("emulated time must be timezone-aware")
    return when.astimezone(UTC)


class TickingClock(EmulatedClock):
    """An emulated clock that also runs with wall time (for a server a person plays with)."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        super().__init__(start)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            return self._now + timedelta(seconds=time.monotonic() - self._t0)

    def advance(self, delta: float | timedelta) -> datetime:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("an emulated clock never goes backwards with advance(); use set()")
        with self._lock:
            self._now += step
        return self.now()

    def set(self, when: datetime) -> datetime:
        with self._lock:
            self._now = _aware(when)
            self._t0 = time.monotonic()
        return self.now()


if TYPE_CHECKING:  # both are brapped.clock.Clock implementations (checked by mypy)
    _emulated: Clock = EmulatedClock()
    _ticking: Clock = TickingClock()
