"""The Web API client on a hand-built transport: retries, backoff, rate limits, 401s, paging."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from brapped.spotify import AuthRequired, RateLimited, RetryPolicy, SpotifyClient, SpotifyError
from brapped.spotify.fetch import fetch_in_batches, fetch_one_by_one, fetch_recently_played
from tests.conftest import SAMPLES

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FIFTY = json.loads(
    (SAMPLES / "chekos__spotify-git-scraping__recently_played__2023-01-26_b4503d24_50items.json").read_text()
)
EMPTY = json.loads(
    (SAMPLES / "chekos__spotify-git-scraping__recently_played__empty_a35631e4.json").read_text()
)


class Clock:
    def __init__(self) -> None:
        self.t = NOW
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds)


class Tokens:
    def __init__(self) -> None:
        self.current = "t0"
        self.refreshed = 0

    def access_token(self) -> str:
        return self.current

    def refresh(self, stale_access_token: str | None = None) -> str:
        self.refreshed += 1
        self.current = f"t{self.refreshed}"
        return self.current


Reply = Callable[[httpx.Request], httpx.Response]


def make(
    replies: list[Reply | httpx.Response | Exception],
) -> tuple[SpotifyClient, Clock, Tokens, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)

    clock, tokens = Clock(), Tokens()
    client = SpotifyClient(
        httpx.Client(transport=httpx.MockTransport(handler)),
        tokens,
        clock,
        retry=RetryPolicy(retry_after_cap=60, jitter=random.Random(1).random),
    )
    return client, clock, tokens, seen


def ok(body: object) -> httpx.Response:
    return httpx.Response(200, json=body)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"status": status, "message": message}}, headers=headers)


def test_5xx_is_retried_with_exponential_backoff_and_jitter() -> None:
    client, clock, _, seen = make(
        [error(503, "Service unavailable"), error(502, "Bad gateway"), ok({"id": "me"})]
    )
    assert client.me() == {"id": "me"}
    assert len(seen) == 3 and client.calls == 3
    assert len(clock.slept) == 2
    assert 0.5 <= clock.slept[0] <= 1.0 and 1.0 <= clock.slept[1] <= 2.0


def test_5xx_gives_up_after_the_retry_budget() -> None:
    client, clock, _, seen = make([error(500, "Server error.")])
    with pytest.raises(SpotifyError) as caught:
        client.me()
    assert (caught.value.status, caught.value.message, caught.value.exit_code) == (500, "Server error.", 69)
    assert len(seen) == 1 + client.retry.max_retries
    assert sum(clock.slept) <= 1 + 2 + 4 + 8


def test_dropped_connections_are_retried_then_reported() -> None:
    drop = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    client, _, _, seen = make([drop, drop, ok({"id": "me"})])
    assert client.me()["id"] == "me" and len(seen) == 3
    client, _, _, seen = make([drop])
    with pytest.raises(SpotifyError, match="no answer from /v1/me after 5 attempts"):
        client.me()


def test_short_429_waits_retry_after() -> None:
    client, clock, _, seen = make(
        [error(429, "API rate limit exceeded", {"Retry-After": "12"}), ok({"id": "me"})]
    )
    assert client.me()["id"] == "me"
    assert clock.slept == [12] and len(seen) == 2


def test_long_429_raises_at_once_with_the_resume_time() -> None:
    client, clock, _, seen = make([error(429, "API rate limit exceeded", {"Retry-After": "74214"})])
    with pytest.raises(RateLimited) as caught:
        client.me()
    assert (caught.value.retry_after, caught.value.resume_at) == (74214, NOW + timedelta(seconds=74214))
    assert caught.value.exit_code == 75 and clock.slept == [] and len(seen) == 1


def test_endless_short_429s_end_as_rate_limited() -> None:
    client, clock, _, _seen = make([error(429, "slow down", {"Retry-After": "3"})])
    with pytest.raises(RateLimited):
        client.me()
    assert clock.slept == [3] * client.retry.max_retries


def test_401_refreshes_once_then_gives_up() -> None:
    client, _, tokens, seen = make([error(401, "The access token expired"), ok({"id": "me"})])
    assert client.me()["id"] == "me"
    assert tokens.refreshed == 1
    assert [r.headers["authorization"] for r in seen] == ["Bearer t0", "Bearer t1"]
    client, _, tokens, _ = make([error(401, "Invalid access token")])
    with pytest.raises(AuthRequired, match="Invalid access token") as caught:
        client.me()
    assert tokens.refreshed == 1 and caught.value.exit_code == 77


def test_other_errors_are_typed_without_retry() -> None:
    client, _clock, _, seen = make([error(404, "Non existing id")])
    with pytest.raises(SpotifyError) as caught:
        client.one("tracks", "x")
    assert (caught.value.status, caught.value.message) == (404, "Non existing id") and len(seen) == 1
    client, _, _, _ = make([httpx.Response(200, text="<html>")])
    with pytest.raises(SpotifyError, match="not JSON"):
        client.me()


def test_paging_follows_next_only_while_pages_are_full() -> None:
    second = {**EMPTY}
    client, _, _, seen = make([ok(FIFTY), ok(second)])
    pages = list(fetch_recently_played(client, 1674419253000))
    assert [len(p["items"]) for p in pages] == [50, 0]
    assert seen[0].url.params["after"] == "1674419253000" and seen[0].url.params["limit"] == "50"
    assert str(seen[1].url) == FIFTY["next"]
    short = {**FIFTY, "items": FIFTY["items"][:7]}
    client, _, _, seen = make([ok(short)])
    assert len(list(fetch_recently_played(client, None))) == 1 and len(seen) == 1
    assert "after" not in seen[0].url.params


def test_paging_stops_when_next_repeats() -> None:
    client, _, _, seen = make([ok(FIFTY)])
    assert len(list(fetch_recently_played(client, 1))) == 2 and len(seen) == 2


def test_lookups_single_and_batch() -> None:
    client, _, _, seen = make([ok({"id": "a", "name": "A"}), error(404, "Non existing id"), ok({"id": "c"})])
    assert [(i, o and o["id"]) for i, o in fetch_one_by_one(client, "artists", ["a", "b", "c"])] == [
        ("a", "a"),
        ("b", None),
        ("c", "c"),
    ]
    client, _, _, seen = make([ok({"artists": [{"id": "a"}, None]})])
    assert list(fetch_in_batches(client, "artists", ["a", "b"])) == [("a", {"id": "a"}), ("b", None)]
    assert seen[0].url.params["ids"] == "a,b"


def test_missing_scope_asks_for_a_new_authorisation() -> None:
    client, _, _, _ = make([error(403, "Insufficient client scope")])
    with pytest.raises(AuthRequired, match="Insufficient client scope; run `brapped auth` again") as caught:
        client.recently_played()
    assert caught.value.exit_code == 77
    client, _, _, _ = make([error(403, "Forbidden")])
    with pytest.raises(SpotifyError) as refused:
        client.several("artists", ["a"])
    assert refused.value.status == 403  # what batch detection relies on


@pytest.mark.parametrize(
    "foreign",
    [
        "https://evil.example/v1/me/player/recently-played?before=1",
        "http://api.spotify.com/v1/me/player/recently-played?before=1",  # same host, but in the clear
        "https://api.spotify.com:8443/v1/me/player/recently-played?before=1",
        "https://api.spotify.com.evil.example/v1/me/player/recently-played?before=1",
    ],
)
def test_a_next_link_elsewhere_is_asked_of_the_configured_web_api(foreign: str) -> None:
    # The bearer token goes with every request: a `next` elsewhere would hand it to that host. Its
    # Web API path is asked of the configured API instead (a proxy leaves Spotify's links as they are).
    client, _, _, seen = make([ok({**FIFTY, "next": foreign}), ok({"items": [], "next": None})])
    assert len(list(fetch_recently_played(client, 1))) == 2  # pages, both read
    assert [str(r.url) for r in seen[1:]] == [f"{client.api_url}/me/player/recently-played?before=1"]


def test_a_next_link_off_the_web_api_path_is_refused_before_the_token_goes_out() -> None:
    client, _, _, seen = make([ok({**FIFTY, "next": "https://evil.example/collect?before=1"})])
    with pytest.raises(SpotifyError, match="links outside the Web API") as caught:
        list(fetch_recently_played(client, 1))
    assert len(seen) == 1 and caught.value.exit_code == 69
