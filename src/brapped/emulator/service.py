"""The emulator as one function: accounts, /v1 and /_admin behind `Emulator.handle`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson

from brapped.emulator.accounts import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URIS,
    Accounts,
)
from brapped.emulator.catalogue import catalogue_for
from brapped.emulator.clock import EmulatedClock
from brapped.emulator.faults import Counters, Fault, FaultSet, RateLimiter
from brapped.emulator.listener import Listener, TruePlay
from brapped.emulator.musicbrainz import RATE_MESSAGE, MusicBrainz
from brapped.emulator.musicbrainz import route_key as mb_route_key
from brapped.emulator.playlists import Playlists
from brapped.emulator.reply import Reply, api_error
from brapped.emulator.webapi import WebAPI, route_key

MODES = ("development", "extended")
DEFAULT_SCOPE = "user-read-recently-played user-read-private user-read-email user-top-read"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Emulator:
    """Spotify as brapped sees it: accounts, Web API and a simulated listener.

    `exports.write_export(emu, ...)` and `server.serve_in_thread(emu)` take it as a parameter:
    this module imports neither, so the package has no import cycle.

    `seed` decides the catalogue and every play; `mode` is "development" (default: every personal
    app since February 2026) or "extended"; `clock` is the emulated time (an `EmulatedClock`).
    `rate_limit` requests are allowed in any rolling `rate_window` seconds of emulated time.
    """

    def __init__(
        self,
        seed: int = 0,
        mode: str = "development",
        clock: EmulatedClock | None = None,
        *,
        rate_limit: int = 500,
        rate_window: float = 30.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.seed = seed
        self.mode = mode
        self.clock = clock if clock is not None else EmulatedClock()
        self.catalogue = catalogue_for(seed)
        self.listener = Listener(self.catalogue, seed)
        # Listener 0 is `listener`; `add_listener` adds household members sharing the catalogue.
        self.listeners = [self.listener]
        self.accounts = Accounts()
        self.accounts.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, list(DEFAULT_REDIRECT_URIS))
        self.faults = FaultSet()
        self.counters = Counters()
        self.rate_limiter = RateLimiter(rate_limit, rate_window)
        self.webapi = WebAPI(self.catalogue, self.listener, mode, self.listeners)
        self.playlists = Playlists(self.catalogue, self.listener, mode)
        self.musicbrainz = MusicBrainz(self.catalogue, seed)

    # -- set-up -------------------------------------------------------------------------------

    def register_client(
        self, client_id: str, client_secret: str | None = None, redirect_uris: list[str] | None = None
    ) -> None:
        """Register an app as on Spotify's dashboard; refuses `localhost` and non-loopback http URIs."""
        self.accounts.register_client(client_id, client_secret, list(redirect_uris or []))

    def add_listener(self, seed: int) -> int:
        """Another Spotify user (tastes from `seed`, same catalogue); returns their listener number."""
        self.listeners.append(Listener(self.catalogue, seed))
        return len(self.listeners) - 1

    def issue_refresh_token(
        self,
        client_id: str = DEFAULT_CLIENT_ID,
        scope: str = DEFAULT_SCOPE,
        pkce: bool = True,
        listener: int = 0,
    ) -> str:
        """A refresh token as if user `listener` had just authorised `client_id` (no browser flow)."""
        return self.accounts.issue_refresh_token(
            client_id, frozenset(scope.split()), pkce, self.clock.now(), listener
        )

    def issue_access_token(self, client_id: str = DEFAULT_CLIENT_ID, scope: str = DEFAULT_SCOPE) -> str:
        """A user access token valid for 3600 s of emulated time."""
        return self.accounts.issue_access_token(client_id, frozenset(scope.split()), self.clock.now())

    # -- the listener's truth -----------------------------------------------------------------

    def ground_truth(self, start: datetime, end: datetime, listener: int = 0) -> list[TruePlay]:
        """Every play (tracks, episodes, chapters) that ENDED in [start, end), oldest first.

        Includes plays the Web API never shows (episodes, chapters, skips under 30 s, private
        sessions) and plays after the emulated now: the listener's script is fixed by the seed.
        """
        return self.listeners[listener].plays_between(start, end)

    def recently_played_window(self, now: datetime | None = None) -> list[TruePlay]:
        """The plays recently-played can reach at `now` (default: emulated now), newest first."""
        return self.webapi.recent_window(now or self.clock.now())

    # -- transports ---------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request in-process (the MockTransport handler).

        A "drop" fault raises httpx.RemoteProtocolError; a "slow" fault raises httpx.ReadTimeout
        when its delay reaches the request's read timeout, else advances the emulated clock.
        """
        url = request.url
        base = f"{url.scheme}://{url.netloc.decode('ascii')}"
        reply = self.dispatch(
            request.method,
            url.path,
            url.query.decode("ascii"),
            request.headers.get("authorization"),
            request.read(),
            base,
            **({"user_agent": request.headers.get("user-agent")} if url.path.startswith("/ws/2/") else {}),
        )
        if reply.action == "drop":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if reply.action == "slow":
            timeout = request.extensions.get("timeout", {}).get("read")
            if timeout is not None and reply.delay >= timeout:
                self.clock.advance(timeout)
                raise httpx.ReadTimeout("The read operation timed out", request=request)
            self.clock.advance(reply.delay)
        return httpx.Response(
            reply.status, headers=reply.header_items(), content=reply.body(), request=request
        )

    def transport(self) -> httpx.MockTransport:
        """An httpx transport that answers every request with `handle` (no sockets)."""
        return httpx.MockTransport(self.handle)

    # -- dispatch -----------------------------------------------------------------------------

    def dispatch(
        self,
        method: str,
        path: str,
        query: str,
        authorization: str | None,
        body: bytes,
        base_url: str,
        *,
        user_agent: str | None = None,
    ) -> Reply:
        """Route one request; transports turn the Reply (and its drop/slow action) into a response."""
        # Spotify serves `/v1/me/` as `/v1/me` (spotipy asks for the former).
        path = path.rstrip("/") or "/"
        if path.startswith("/_admin/"):
            return self._admin(method, path, query, body)
        musicbrainz = path.startswith("/ws/2/")
        self.counters.record(mb_route_key(method, path) if musicbrainz else route_key(method, path))
        now = self.clock.now()
        accounts = not path.startswith("/v1/")
        fault = self.faults.take(method, path)
        slow: Fault | None = None
        if fault is not None:
            if fault.kind == "slow":
                slow = fault
            elif musicbrainz:
                return _musicbrainz_fault(fault)
            else:
                return _fault_reply(fault, accounts)
        if musicbrainz:
            reply = self.musicbrainz.handle(method, path, query, user_agent, now)
        else:
            reply = self._route(method, path, query, authorization, body, base_url, now)
        if slow is not None:
            reply.action, reply.delay = "slow", slow.delay
        return reply

    def _route(
        self,
        method: str,
        path: str,
        query: str,
        authorization: str | None,
        body: bytes,
        base_url: str,
        now: datetime,
    ) -> Reply:
        if path == "/authorize":
            if method != "GET":
                return api_error(405, "Method not allowed")
            return self.accounts.authorize(dict(parse_qsl(query, keep_blank_values=True)), now)
        if path == "/api/token":
            if method != "POST":
                return api_error(405, "Method not allowed")
            return self.accounts.token(body, authorization, now)
        if not path.startswith("/v1/"):
            return api_error(404, "Service not found")
        wait = self.rate_limiter.check((now - _EPOCH).total_seconds())
        if wait is not None:
            return api_error(429, "API rate limit exceeded", {"retry-after": str(wait)})
        token = self.accounts.check_bearer(authorization, now)
        if isinstance(token, str):
            return _unauthorized(token)
        params = dict(parse_qsl(query, keep_blank_values=True))
        if method == "POST":
            return self.playlists.handle(path, params, body, token.scope, token.user, base_url + "/v1")
        return self.webapi.handle(method, path, params, token, now, base_url + "/v1")

    # -- /_admin ------------------------------------------------------------------------------

    def _admin(self, method: str, path: str, query: str, body: bytes) -> Reply:
        try:
            data: Any = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            return api_error(400, "Body must be JSON")
        if not isinstance(data, dict):
            return api_error(400, "Body must be a JSON object")
        if path == "/_admin/clock":
            if method == "POST":
                try:
                    if "set" in data:
                        self.clock.set(datetime.fromisoformat(str(data["set"]).replace("Z", "+00:00")))
                    if "advance" in data:
                        self.clock.advance(timedelta(seconds=float(data["advance"])))
                except (TypeError, ValueError) as exc:
                    return api_error(400, str(exc))
            return Reply(200, {"now": self.clock.now().isoformat().replace("+00:00", "Z")})
        if path == "/_admin/counters":
            if method == "DELETE":
                self.counters.reset()
            return Reply(200, {"counts": dict(self.counters), "v1_total": self.counters.v1_total})
        if path == "/_admin/faults":
            if method == "POST":
                try:
                    self.faults.add(Fault(**data))
                except (TypeError, ValueError) as exc:
                    return api_error(400, str(exc))
            elif method == "DELETE":
                self.faults.clear()
            return Reply(200, {"faults": [vars(f) for f in self.faults.pending()]})
        if path == "/_admin/refresh-token" and method == "POST":
            try:
                token = self.issue_refresh_token(
                    str(data.get("client_id", DEFAULT_CLIENT_ID)),
                    str(data.get("scope", DEFAULT_SCOPE)),
                    bool(data.get("pkce", True)),
                    int(data.get("listener", 0)),
                )
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                return api_error(400, str(exc))
            return Reply(200, {"refresh_token": token})
        return api_error(404, "Service not found")


def _musicbrainz_fault(fault: Fault) -> Reply:
    """A fault in MusicBrainz's shapes: 5xx/429 become its 503 body, "garbage" a truncated 200."""
    if fault.kind == "drop":
        return Reply(0, action="drop")
    if fault.kind == "garbage":
        return Reply(200, text='{"id": "5b11f4ce-a62d-471e-81fc-a69a8278c7da", "name": "Nirv', headers=_JSON)
    if fault.kind == "5xx" and fault.status != 503:
        return Reply(fault.status, text="<html><body>Bad gateway</body></html>", headers=_HTML)
    return Reply(503, {"error": fault.message or RATE_MESSAGE})


_JSON = {"content-type": "application/json; charset=utf-8"}
_HTML = {"content-type": "text/html"}


def _fault_reply(fault: Fault, accounts: bool) -> Reply:
    if fault.kind == "drop":
        return Reply(0, action="drop")
    if fault.kind == "garbage":
        return Reply(200, text='{"items": [{"track": {"id": "4u', headers=_JSON)
    if fault.kind == "429":
        return api_error(
            429, fault.message or "API rate limit exceeded", {"retry-after": str(fault.retry_after)}
        )
    if fault.kind == "5xx":
        messages = {500: "Server error.", 502: "Bad gateway.", 503: "Service unavailable"}
        return api_error(fault.status, fault.message or messages.get(fault.status, "Server error."))
    if fault.kind == "invalid_grant":
        return Reply(
            400, {"error": "invalid_grant", "error_description": fault.message or "Refresh token revoked"}
        )
    # "401"
    if accounts:
        return Reply(400, {"error": "invalid_client", "error_description": fault.message or "Invalid client"})
    return _unauthorized(fault.message or "The access token expired")


def _unauthorized(message: str) -> Reply:
    challenge = f'Bearer realm="spotify", error="invalid_token", error_description="{message}"'
    return api_error(401, message, {"www-authenticate": challenge})
