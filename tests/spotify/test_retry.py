"""The one retry policy: Retry-After parsing, and the Web API and token requests waiting alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from brapped.emulator import EmulatedClock
from brapped.spotify import RateLimited, RetryPolicy, SpotifyClient, TokenManager, TokenSet, TokenStore
from brapped.spotify.auth import AppCredentials
from brapped.spotify.retry import retry_after

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
APP = AppCredentials(client_id="retry-test-app", accounts_url="https://accounts.example")
ME = {"id": "me"}
TOKEN = {"access_token": "fresh", "token_type": "Bearer", "expires_in": 3600}

# (Retry-After header or None when absent, the seconds waited)
HEADERS = [("12", 12), ("0", 1), (None, 1), ("-3", 1), ("2.9", 2), ("soon", 1), ("inf", 1)]

Reply = httpx.Response | Exception
Call = Callable[[], object]


class Tokens:
    def access_token(self) -> str:
        return "t"

    def refresh(self, stale_access_token: str | None = None) -> str:
        return "t"


def too_many(header: str | None) -> httpx.Response:
    headers = {"Retry-After": header} if header is not None else {}
    return httpx.Response(429, json={"error": {"status": 429, "message": "slow down"}}, headers=headers)


def replaying(first: list[Reply], then: dict[str, object]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        reply = first.pop(0) if first else httpx.Response(200, json=then)
        if isinstance(reply, Exception):
            raise reply
        return reply

    return httpx.MockTransport(handler)


def web_api(replies: list[Reply], policy: RetryPolicy, clock: EmulatedClock) -> SpotifyClient:
    """A Web API client answering `replies`, then 200."""
    return SpotifyClient(httpx.Client(transport=replaying(replies, ME)), Tokens(), clock, retry=policy)


def token_refresh(replies: list[Reply], policy: RetryPolicy, home: Path) -> Call:
    """A token refresh whose accounts service answers `replies`, then a new access token."""
    store = TokenStore(home / "token.json")
    store.save(TokenSet(client_id=APP.client_id, refresh_token="r", issued_at=NOW))
    manager = TokenManager(store, APP, EmulatedClock(NOW), transport=replaying(replies, TOKEN), retry=policy)
    return manager.access_token


def both(replies: Callable[[], list[Reply]], policy: RetryPolicy, home: Path) -> dict[str, Call]:
    return {
        "web api": web_api(replies(), policy, EmulatedClock(NOW)).me,
        "token": token_refresh(replies(), policy, home),
    }


@pytest.mark.parametrize(("header", "seconds"), HEADERS)
def test_retry_after_is_whole_seconds_and_never_below_one(header: str | None, seconds: int) -> None:
    assert retry_after(too_many(header)) == seconds


@pytest.mark.parametrize(("header", "seconds"), HEADERS)
def test_web_api_and_token_requests_wait_the_same_for_the_same_header(
    tmp_path: Path, header: str | None, seconds: int
) -> None:
    waits: list[float] = []
    for call in both(lambda: [too_many(header)], RetryPolicy(sleep=waits.append), tmp_path).values():
        call()
    assert waits == [seconds, seconds]


@pytest.mark.parametrize(
    ("header", "slept", "seconds"), [("0", [1, 1, 1, 1], 1), ("74214", [], 74214)], ids=["zero", "long"]
)
def test_both_give_up_alike_on_endless_zero_waits_and_on_long_ones(
    tmp_path: Path, header: str, slept: list[float], seconds: int
) -> None:
    waits: list[float] = []
    calls = both(lambda: [too_many(header) for _ in range(10)], RetryPolicy(sleep=waits.append), tmp_path)
    for caller, call in calls.items():
        waits.clear()
        with pytest.raises(RateLimited) as caught:
            call()
        assert (caller, waits) == (caller, slept)
        assert caught.value.retry_after == seconds
        assert caught.value.resume_at == NOW + timedelta(seconds=seconds)


def test_backoff_doubles_with_jitter_between_half_and_the_whole_step() -> None:
    low, high = RetryPolicy(backoff=2.0, jitter=lambda: 0.0), RetryPolicy(backoff=2.0, jitter=lambda: 0.999)
    assert [low.backoff_wait(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert [round(high.backoff_wait(n), 2) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert RetryPolicy(max_retries=2).attempts == 3


def test_timeouts_back_off_through_the_policy_sleeper_not_the_clock() -> None:
    waits: list[float] = []
    clock = EmulatedClock(NOW)
    timeout = httpx.ConnectTimeout("timed out")
    client = web_api([timeout, timeout], RetryPolicy(sleep=waits.append, jitter=lambda: 0.0), clock)
    assert client.me() == {"id": "me"}
    assert waits == [0.5, 1.0] and clock.now() == NOW and client.calls == 3
