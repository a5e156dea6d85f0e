"""Authorisation with Spotify: the OAuth flows (through authlib), the token store and refreshing.

- `authorize()` runs Authorization Code with PKCE (or with the client secret when one is configured):
  a loopback server on 127.0.0.1 waits for the answer carrying this run's `state` (requests with any
  other state get a 400 page and are ignored), then the code is exchanged.
- `TokenStore` keeps tokens in one JSON file, mode 0600, replaced atomically (temp file, fsync,
  rename), so a crash at any moment leaves either the old file or the new one.
- `TokenManager` hands out a valid access token. PKCE refresh tokens are single-use: a rotated one is
  written to the store before the new access token is used, so no crash can lose the only valid one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError

with warnings.catch_warnings():
    # authlib 1.9 nags that it would prefer the `httpx2` fork; plain httpx is what we depend on.
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client

from brapped.clock import Clock
from brapped.config import make_home

try:
    import fcntl
except ImportError:  # Windows: one brapped process at a time is the documented limit there
    fcntl = None  # type: ignore[assignment]
from brapped.spotify.errors import AuthExpired, AuthFlowError, AuthRequired, SpotifyError
from brapped.spotify.retry import DEFAULT_RETRY, RetryPolicy, raise_for_retry

# /me's id and display name need no scope; recently-played is the only grant brapped always asks for.
SCOPES: tuple[str, ...] = ("user-read-recently-played",)
# Grants asked for only by the command that needs them (`brapped auth --scope NAME`): incremental
# authorisation, so syncing never holds more access than reading plays.
EXTRA_SCOPES: dict[str, tuple[str, ...]] = {"playlist": ("playlist-modify-private",)}
PLAYLIST_SCOPE = "playlist-modify-private"
REFRESH_TOKEN_LIFETIME_MONTHS = 6
# Refresh a little before Spotify's expiry so a token never dies between our check and the request.
EXPIRY_LEEWAY = timedelta(seconds=60)


@dataclass(frozen=True)
class AppCredentials:
    """The Spotify app brapped authenticates as, and where its accounts service lives."""

    client_id: str
    client_secret: str | None = None
    accounts_url: str = "https://accounts.spotify.com"

    @property
    def pkce(self) -> bool:
        """PKCE when there is no secret: the secret-less flow Spotify recommends for local apps."""
        return not self.client_secret

    @property
    def authorize_url(self) -> str:
        return self.accounts_url.rstrip("/") + "/authorize"

    @property
    def token_url(self) -> str:
        return self.accounts_url.rstrip("/") + "/api/token"


@dataclass(frozen=True)
class TokenSet:
    """What the token file holds. `issued_at` is when the user consented: refresh tokens die
    six months later, rotation or not."""

    client_id: str
    refresh_token: str
    issued_at: datetime
    issued_at_known: bool = True  # False when the token came from the environment (first seen)
    access_token: str | None = None
    expires_at: datetime | None = None
    scope: str = ""
    user_id: str | None = None
    display_name: str | None = None
    seeded_from: str | None = None  # fingerprint of SPOTIFY_REFRESH_TOKEN this file started from

    @property
    def refresh_expires_at(self) -> datetime:
        return add_months(self.issued_at, REFRESH_TOKEN_LIFETIME_MONTHS)

    def access_valid(self, now: datetime) -> bool:
        return (
            bool(self.access_token) and self.expires_at is not None and now < self.expires_at - EXPIRY_LEEWAY
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("issued_at", "expires_at"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenSet:
        values = dict(data)
        for key in ("issued_at", "expires_at"):
            if values.get(key) is not None:
                values[key] = datetime.fromisoformat(values[key]).astimezone(UTC)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in values.items() if k in known})

    def __repr__(self) -> str:  # never let a token reach a log through repr()
        return (
            f"TokenSet(client_id={self.client_id!r}, user_id={self.user_id!r}, issued_at={self.issued_at!r})"
        )


def add_months(when: datetime, months: int) -> datetime:
    """The same day `months` calendar months later (clamped to the month's last day)."""
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    for day in (when.day, 30, 29, 28):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def fingerprint(secret: str) -> str:
    """A stable, non-reversible name for a secret (to notice that the environment changed)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class TokenStore:
    """The token file: mode 0600, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> TokenSet | None:
        """The saved tokens, or None when there is no file."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuthRequired(f"cannot read token file {self.path}: {exc.strerror}") from exc
        try:
            return TokenSet.from_json(json.loads(text))
        except (ValueError, TypeError, KeyError) as exc:
            raise AuthRequired(f"token file {self.path} is damaged: run `brapped auth` again") from exc

    def save(self, tokens: TokenSet) -> None:
        """Replace the file atomically; it is never readable by other users, not even briefly."""
        make_home(self.path.parent)
        # mkstemp creates the file with mode 0600 before anything is written into it.
        fd, tmp = tempfile.mkstemp(prefix=".token-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(tokens.to_json(), handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the token lock (a 0600 file beside the tokens) across processes and threads."""
        make_home(self.path.parent)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def delete(self) -> bool:
        """Forget the tokens; True when there was a file."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


def _fsync_dir(folder: Path) -> None:
    # The rename is only durable once the directory entry is on disk (not possible on every OS).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _oauth_client(
    app: AppCredentials,
    transport: httpx.BaseTransport | None,
    redirect_uri: str | None = None,
    scopes: Sequence[str] = SCOPES,
) -> OAuth2Client:
    client = OAuth2Client(
        client_id=app.client_id,
        client_secret=app.client_secret or None,
        token_endpoint_auth_method="none" if app.pkce else "client_secret_basic",
        scope=" ".join(scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256" if app.pkce else None,
        transport=transport,
        timeout=httpx.Timeout(30.0, connect=10.0),
        trust_env=transport is None,
    )
    # authlib reads any JSON error body as an OAuth error; a 429 must keep its Retry-After.
    client.register_compliance_hook("access_token_response", raise_for_retry)
    client.register_compliance_hook("refresh_token_response", raise_for_retry)
    return client


def _token_request(call: Callable[[], dict[str, Any]], clock: Clock, retry: RetryPolicy) -> dict[str, Any]:
    """One token-endpoint request, retried by `retry`; OAuth errors become typed errors."""
    try:
        return dict(retry.run(call, clock, "the accounts service"))
    except OAuthError as exc:
        code = str(exc.error or "")
        description = str(exc.description or "") or code
        if code == "invalid_grant":
            raise AuthExpired(
                f"Spotify refused the saved authorisation ({description}): run `brapped auth` again"
            ) from exc
        if code == "invalid_client":
            raise AuthRequired(
                f"Spotify refused the app credentials ({description}): check SPOTIFY_CLIENT_ID "
                "and SPOTIFY_CLIENT_SECRET"
            ) from exc
        raise SpotifyError(400, f"token request failed: {description}") from exc
    except httpx.HTTPStatusError as exc:
        raise SpotifyError(exc.response.status_code, "accounts service error") from exc
    except httpx.TransportError as exc:
        raise SpotifyError(0, f"cannot reach the accounts service: {type(exc).__name__}") from exc


class TokenManager:
    """Valid access tokens on demand; refreshes (saving rotated tokens first) when needed."""

    def __init__(
        self,
        store: TokenStore,
        app: AppCredentials | None,
        clock: Clock,
        *,
        transport: httpx.BaseTransport | None = None,
        env_refresh_token: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.store = store
        self.app = app
        self.clock = clock
        self.transport = transport
        self.env_refresh_token = env_refresh_token
        self.retry = retry
        self.refreshes = 0  # token requests made (for counts in run records)
        self._tokens: TokenSet | None = None
        self._lock = threading.Lock()

    @property
    def tokens(self) -> TokenSet:
        """The current tokens (from the file, or seeded from SPOTIFY_REFRESH_TOKEN)."""
        if self._tokens is None:
            self._tokens = self._load()
        return self._tokens

    def _require_app(self) -> AppCredentials:
        if self.app is None or not self.app.client_id:
            raise AuthRequired("no Spotify client id: set SPOTIFY_CLIENT_ID (see `brapped auth --help`)")
        return self.app

    def _load(self) -> TokenSet:
        app = self._require_app()
        saved = self.store.load()
        env = self.env_refresh_token
        if env and (
            saved is None or (saved.seeded_from is not None and saved.seeded_from != fingerprint(env))
        ):
            # A new SPOTIFY_REFRESH_TOKEN: start from it. When the file was seeded from this same
            # value the file wins: it holds the rotated successor, and the env copy is spent.
            seeded = TokenSet(
                client_id=app.client_id,
                refresh_token=env,
                issued_at=self.clock.now(),
                issued_at_known=False,
                seeded_from=fingerprint(env),
            )
            self.store.save(seeded)
            return seeded
        if saved is None:
            raise AuthRequired(
                "not authorised with Spotify: run `brapped auth` "
                "(or set SPOTIFY_REFRESH_TOKEN for headless use)"
            )
        if saved.client_id != app.client_id:
            raise AuthRequired(
                f"the saved authorisation belongs to another client id than {app.client_id}: "
                "run `brapped auth`"
            )
        return saved

    def access_token(self) -> str:
        """A valid access token, refreshing first when it is missing or about to expire."""
        with self._lock:
            tokens = self.tokens
            if not tokens.access_valid(self.clock.now()):
                tokens = self._refresh_locked(tokens)
            assert tokens.access_token is not None
            return tokens.access_token

    def refresh(self, stale_access_token: str | None = None) -> str:
        """Force a refresh (after a 401). When another thread already refreshed past
        `stale_access_token`, its token is returned instead of spending another refresh."""
        with self._lock:
            tokens = self.tokens
            if (
                stale_access_token is not None
                and tokens.access_token is not None
                and tokens.access_token != stale_access_token
                and tokens.access_valid(self.clock.now())
            ):
                return tokens.access_token
            tokens = self._refresh_locked(tokens, stale_access_token)
            assert tokens.access_token is not None
            return tokens.access_token

    def remember_user(self, user_id: str, display_name: str | None) -> None:
        """Record whose tokens these are (saves a /me call on every later sync)."""
        with self._lock:
            self._tokens = replace(self.tokens, user_id=user_id, display_name=display_name)
            self.store.save(self._tokens)

    def _refresh_locked(self, tokens: TokenSet, stale: str | None = None) -> TokenSet:
        with self.store.locked():
            # Another process (a second sync, the scheduler) may have refreshed meanwhile; PKCE
            # refresh tokens are single-use, so take its result instead of spending a dead token.
            disk = self.store.load()
            if (
                disk is not None
                and disk.client_id == tokens.client_id
                and disk.refresh_token != tokens.refresh_token
            ):
                tokens = disk
                self._tokens = disk
                if disk.access_valid(self.clock.now()) and disk.access_token != stale:
                    return disk
            return self._refresh_unlocked(tokens)

    def _refresh_unlocked(self, tokens: TokenSet) -> TokenSet:
        app = self._require_app()
        # A refresh names the scopes it wants: every one granted, so an extra grant such as the
        # playlist one is never narrowed away by the next sync's refresh.
        oauth = _oauth_client(app, self.transport, scopes=tokens.scope.split() or SCOPES)
        try:
            self.refreshes += 1
            answer = _token_request(
                lambda: oauth.refresh_token(app.token_url, refresh_token=tokens.refresh_token),
                self.clock,
                self.retry,
            )
        finally:
            oauth.close()
        now = self.clock.now()
        fresh = replace(
            tokens,
            access_token=str(answer["access_token"]),
            expires_at=now + timedelta(seconds=int(answer.get("expires_in", 3600))),
            # Spotify may rotate the refresh token; when it does not, the old one stays valid.
            refresh_token=str(answer.get("refresh_token") or tokens.refresh_token),
            scope=str(answer.get("scope", tokens.scope)),
        )
        # Saved before the caller can use the new access token: the old refresh token is already dead.
        self.store.save(fresh)
        self._tokens = fresh
        return fresh


# -- the interactive flow ----------------------------------------------------------------------


@dataclass
class _Callback:
    params: dict[str, str] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    ignored: int = 0  # requests with a wrong state, for the timeout's message


_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>brapped</title></head>"
    "<body style='font-family:sans-serif'><h1>{title}</h1><p>{text}</p></body></html>"
)


def _handler(callback: _Callback, state: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # One request at a time: a connection that stalls must not keep Spotify's answer out.
        timeout = 10

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/callback":
                self.send_error(404)
                return
            params = dict(parse_qsl(parts.query))
            if not hmac.compare_digest(params.get("state", "").encode(), state.encode()):
                # Any web page can make the browser request this address: such a request neither
                # ends nor spoils the wait for Spotify's real answer.
                callback.ignored += 1
                self._answer(
                    400,
                    "This is not the answer brapped is waiting for",
                    "The request does not carry the state brapped sent to Spotify, so it was ignored. "
                    "brapped is still waiting for Spotify's answer.",
                )
                return
            ok = "code" in params
            self._answer(
                200 if ok else 400,
                "brapped is authorised" if ok else "Authorisation did not complete",
                "You can close this tab and return to the terminal."
                if ok
                else "Spotify said: " + _escape(params.get("error", "no code in the answer")),
            )
            if not callback.done.is_set():
                callback.params = params
                callback.done.set()

        def _answer(self, status: int, title: str, text: str) -> None:
            body = _PAGE.format(title=title, text=text).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # the query string holds the authorisation code: never log it

    return Handler


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class AuthResult:
    """A finished authorisation: the saved tokens (with whose they are once `/me` was asked)."""

    tokens: TokenSet
    redirect_uri: str
    pkce: bool
    token_file: Path | None = None  # where the tokens were saved


def authorize(
    app: AppCredentials,
    store: TokenStore,
    clock: Clock,
    open_url: Callable[[str], object],
    *,
    port: int = 8888,
    host: str = "127.0.0.1",
    timeout: float = 300.0,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    scopes: Sequence[str] = SCOPES,
) -> AuthResult:
    """Authorise brapped: open (or show) the Spotify consent URL, catch the redirect, save tokens.

    `open_url` receives the authorize URL: the CLI opens a browser or prints it, the demo and the
    tests fetch it themselves. Blocks until the loopback callback arrives or `timeout` seconds pass.
    `scopes`: the grants asked for (`SCOPES` plus any of `EXTRA_SCOPES`).
    """
    if not app.client_id:
        raise AuthRequired("no Spotify client id: set SPOTIFY_CLIENT_ID or client_id in config.toml")
    callback = _Callback()
    state = secrets.token_urlsafe(24)
    try:
        server = HTTPServer((host, port), _handler(callback, state))
    except OSError as exc:
        raise AuthFlowError(
            f"cannot listen on {host}:{port} for Spotify's redirect ({exc.strerror}): "
            "choose another port with --port (and register that redirect URI in your Spotify app)"
        ) from exc
    redirect_uri = f"http://{host}:{server.server_address[1]}/callback"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    oauth = _oauth_client(app, transport, redirect_uri, scopes)
    try:
        verifier = generate_token(64) if app.pkce else None
        url, _ = oauth.create_authorization_url(app.authorize_url, state=state, code_verifier=verifier)
        open_url(url)
        if not callback.done.wait(timeout):
            ignored = callback.ignored
            plural = "s" if ignored != 1 else ""
            note = f" ({ignored} request{plural} with a wrong state ignored)" if ignored else ""
            raise AuthFlowError(
                f"no answer from Spotify within {timeout:.0f} s{note}: run `brapped auth` again"
            )
        # Only an answer carrying this run's state ends the wait (the handler checks it).
        params = callback.params
        if "error" in params:
            raise AuthFlowError(f"Spotify did not authorise brapped: {params['error']}")
        code = params.get("code")
        if not code:
            raise AuthFlowError("Spotify's answer has no authorisation code")
        extra: dict[str, str] = {"code_verifier": verifier} if verifier else {}
        answer = _token_request(
            lambda: oauth.fetch_token(app.token_url, code=code, grant_type="authorization_code", **extra),
            clock,
            retry,
        )
    finally:
        oauth.close()
        server.shutdown()
        server.server_close()
    now = clock.now()
    if not answer.get("refresh_token"):
        raise AuthFlowError("Spotify issued no refresh token: brapped could not sync unattended")
    tokens = TokenSet(
        client_id=app.client_id,
        refresh_token=str(answer["refresh_token"]),
        issued_at=now,
        access_token=str(answer["access_token"]),
        expires_at=now + timedelta(seconds=int(answer.get("expires_in", 3600))),
        scope=str(answer.get("scope", "")),
    )
    store.save(tokens)
    return AuthResult(tokens=tokens, redirect_uri=redirect_uri, pkce=app.pkce, token_file=store.path)
