"""The one retry policy for every request brapped sends to Spotify (Web API and accounts service).

- 5xx answers and dropped connections or timeouts: at most `max_retries` retries, exponential
  backoff with jitter; then the last error is raised again for the caller to word.
- 429: waits `Retry-After` when it is at most `retry_after_cap` seconds, at most `max_retries`
  times; a longer wait raises `RateLimited(retry_after)` at once, so the caller can stop cleanly
  instead of hanging for hours.
Every wait goes through `RetryPolicy.sleep`, by default the injected clock's, so tests and the demo
run at full speed on emulated time.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import httpx

from brapped.clock import Clock
from brapped.spotify.errors import RateLimited

log = logging.getLogger(__name__)

T = TypeVar("T")

# Spotify sends whole seconds; a 0, missing or unreadable Retry-After still waits this long, so a
# misbehaving answer cannot turn the retries into a hot loop.
MIN_RETRY_AFTER = 1


@dataclass(frozen=True)
class RetryPolicy:
    """How hard brapped retries Spotify, and how it waits; the defaults are what the CLI uses."""

    max_retries: int = 4  # per request, for failures (5xx, no answer) and for short 429 waits apart
    backoff: float = 1.0  # seconds before the first retry after a failure, doubled each time
    retry_after_cap: int = 60  # the longest Retry-After waited out; a longer one raises RateLimited
    sleep: Callable[[float], None] | None = None  # None: the clock's sleep
    jitter: Callable[[], float] = random.random  # a number in [0, 1) per backoff

    @property
    def attempts(self) -> int:
        """Requests sent at most for one call that keeps failing."""
        return self.max_retries + 1

    def backoff_wait(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row."""
        # Between half and the whole exponential step: retries from many clients do not arrive
        # in lock-step.
        step = self.backoff * 2.0 ** (failures - 1)
        return step * (0.5 + self.jitter() / 2)

    def run(self, attempt: Callable[[], T], clock: Clock, where: str) -> T:
        """Call `attempt` until it returns, retrying what this policy retries.

        `attempt` raises `httpx.HTTPStatusError` for an answer it wants judged here (429, 5xx) and
        lets `httpx.TransportError` through. When the retries are spent the last of those is raised
        again; any other status or exception goes straight to the caller.
        """
        sleep = self.sleep or clock.sleep
        failures = 0
        short_waits = 0
        while True:
            try:
                return attempt()
            except httpx.HTTPStatusError as exc:
                status = exc.response.status_code
                if status == 429:
                    wait = retry_after(exc.response)
                    short_waits += 1
                    if wait > self.retry_after_cap or short_waits > self.max_retries:
                        raise RateLimited(wait, clock.now() + timedelta(seconds=wait)) from exc
                    log.info("rate limited on %s: waiting %s s", where, wait)
                    sleep(wait)
                    continue
                if status < 500:
                    raise
                failures += 1
                if failures > self.max_retries:
                    raise
                why = f"HTTP {status} on {where}"
            except httpx.TransportError as exc:
                failures += 1
                if failures > self.max_retries:
                    raise
                why = f"{type(exc).__name__} on {where}"
            wait_s = self.backoff_wait(failures)
            log.info("%s: retry %d in %.1f s", why, failures, wait_s)
            sleep(wait_s)


# What every request uses unless a caller passes its own (`brapped.spotify.retry_policy(settings)`).
DEFAULT_RETRY = RetryPolicy()


def retry_after(response: httpx.Response) -> int:
    """The whole seconds a 429 asks to wait, at least `MIN_RETRY_AFTER`."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return MIN_RETRY_AFTER
    try:
        seconds = int(float(raw))
    except (ValueError, OverflowError):  # not a number, or "inf"
        return MIN_RETRY_AFTER
    return max(MIN_RETRY_AFTER, seconds)


def raise_for_retry(response: httpx.Response) -> httpx.Response:
    """Raise `httpx.HTTPStatusError` for an answer `RetryPolicy.run` judges (429, 5xx)."""
    if response.status_code == 429 or response.status_code >= 500:
        response.raise_for_status()
    return response
