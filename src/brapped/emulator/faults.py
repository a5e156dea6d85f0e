"""Injected faults, the rolling rate limit, and the per-endpoint request counter."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["5xx", "drop", "slow", "401", "invalid_grant", "429", "garbage"]
FAULT_KINDS: tuple[str, ...] = ("5xx", "drop", "slow", "401", "invalid_grant", "429", "garbage")
HUGE_RETRY_AFTER = 74_214  # seconds; a value real users have been sent


@dataclass
class Fault:
    """One injected failure, fired on the next `count` matching requests (`count=None`: forever).

    `path` is a request path such as "/v1/me/player/recently-played" or "/api/token"; None matches
    any request (an `invalid_grant` fault with no path matches only POST /api/token).
    """

    kind: FaultKind
    path: str | None = None
    count: int | None = 1
    retry_after: int = HUGE_RETRY_AFTER  # for "429"
    status: int = 503  # for "5xx"
    delay: float = 30.0  # seconds, for "slow"
    message: str | None = None  # overrides the default error text

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.kind == "5xx" and not 500 <= self.status <= 599:
            raise ValueError("a 5xx fault needs a status between 500 and 599")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1 (or None for every request)")

    def matches(self, method: str, path: str) -> bool:
        if self.kind == "invalid_grant":
            return method == "POST" and path == (self.path or "/api/token")
        return self.path is None or self.path == path


class FaultSet:
    """The faults waiting to fire, in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        """Queue a fault; returns it."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        """The faults still waiting to fire."""
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, used up by one."""
        with self._lock:
            if not self._faults:
                return None
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
            return None

    def __len__(self) -> int:
        return len(self._faults)


class Counters(Mapping[str, int]):
    """Requests received, keyed "METHOD /path" with ids replaced by {id} ("GET /v1/tracks/{id}")."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()

    @property
    def v1_total(self) -> int:
        """All Web API (/v1) requests."""
        with self._lock:
            return sum(n for key, n in self._counts.items() if key.split(" ", 1)[1].startswith("/v1/"))

    def __getitem__(self, key: str) -> int:
        """The count for `key`; 0 for a request never made (handy in assertions)."""
        return self._counts[key]

    def __contains__(self, key: object) -> bool:
        return key in self._counts

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._counts))

    def __len__(self) -> int:
        return len(self._counts)

    def __repr__(self) -> str:
        return f"Counters({dict(self._counts)!r})"


class RateLimiter:
    """A rolling budget: at most `limit` requests in any `window` seconds of emulated time."""

    def __init__(self, limit: int = 500, window: float = 30.0) -> None:
        self.limit = limit
        self.window = window
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def check(self, now: float) -> int | None:
        """Record a request at `now` (epoch seconds); None if allowed, else seconds to wait."""
        with self._lock:
            while self._stamps and self._stamps[0] <= now - self.window:
                self._stamps.popleft()
            if len(self._stamps) >= self.limit:
                wait = self._stamps[0] + self.window - now
                return max(1, int(wait + 0.999))
            self._stamps.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._stamps.clear()
