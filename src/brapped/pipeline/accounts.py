"""A household in one brapped: every account's sync, the list of accounts, removing one.

Spotify's rate limit is per app, and every account of a household shares the app: once one account's
sync is told to wait, no account calls Spotify before the resume time (the resume time is one global
state row, so the next `sync`/`run` honours it too). One account's refused authorisation only stops
that account; its state row `auth_needed` makes `brapped accounts` and `status` say so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select

from brapped.config import Settings
from brapped.errors import BrappedError
from brapped.pipeline.enrich import enrich
from brapped.pipeline.lookups import EnrichResult
from brapped.pipeline.rate_limits import NotYet, resume_after
from brapped.pipeline.sync import SyncResult, sync
from brapped.spotify.account_tokens import AccountTokens, authorised_accounts, forget
from brapped.spotify.client import SpotifyClient
from brapped.spotify.errors import AuthRequired, RateLimited
from brapped.store import Store, known_files
from brapped.store.state import get_state, set_state
from brapped.store.tables import accounts, episode_plays, gaps, plays, runs, state

log = logging.getLogger(__name__)

AUTH_NEEDED = "auth_needed"  # state key, scope = the user id: why Spotify refused the account


@dataclass
class AccountSync:
    """What one account's part of a household sync did."""

    user_id: str | None
    outcome: str  # ok | rate_limited | paused | auth_needed | failed
    result: SyncResult | None = None
    error: BrappedError | None = None

    @property
    def message(self) -> str | None:
        return str(self.error) if self.error is not None else None


@dataclass
class HouseholdSync:
    """Every account's sync, in order."""

    accounts: list[AccountSync] = field(default_factory=list)

    @property
    def rate_limited(self) -> RateLimited | None:
        """The limit that paused the household, if any."""
        for part in self.accounts:
            if part.result is not None and part.result.rate_limited is not None:
                return part.result.rate_limited
            if isinstance(part.error, RateLimited):
                return part.error
        return None

    def first_error(self) -> BrappedError | None:
        """What the command should exit with: a rate limit first, then the first failure."""
        limited = self.rate_limited
        if limited is not None:
            return limited
        return next((p.error for p in self.accounts if p.error is not None), None)

    def counts(self) -> dict[str, Any]:
        """Summed counters plus each account's outcome (for run records and `run`'s log lines)."""
        total: dict[str, Any] = {"new_plays": 0, "seen_plays": 0, "api_calls": 0, "gaps": 0}
        for part in self.accounts:
            if part.result is not None:
                counts = part.result.counts()
                for key in total:
                    total[key] += int(counts.get(key, 0))
        total["accounts"] = {str(p.user_id or "?"): p.outcome for p in self.accounts}
        return total


def sync_all(
    store: Store,
    clients: Sequence[SpotifyClient],
    *,
    enrich_budget: int = 0,
) -> HouseholdSync:
    """Sync each client's account in turn (enrichment after the first one that synced).

    A rate limit (a long 429, or a resume time stored earlier) pauses every account after it: they are
    not asked at all (`paused`). A refused authorisation or any other failure of one account is kept
    in its entry and the next account syncs anyway.
    """
    household = HouseholdSync()
    budget = enrich_budget
    paused: RateLimited | None = None
    for client in clients:
        user_id = _known_user(client)
        if paused is not None:
            household.accounts.append(AccountSync(user_id, "paused", error=paused))
            continue
        try:
            result = sync(store, client, enrich_budget=budget, user_id=user_id)
        except NotYet as exc:
            paused = exc
            household.accounts.append(AccountSync(user_id, "paused", error=exc))
            continue
        except RateLimited as exc:
            paused = exc
            household.accounts.append(AccountSync(user_id, "rate_limited", error=exc))
            continue
        except AuthRequired as exc:
            _mark_auth_needed(store, user_id, str(exc), client.clock.now())
            household.accounts.append(AccountSync(user_id, "auth_needed", error=exc))
            # INFO: the caller says it (the CLI's error line, `brapped run`'s event stream), and
            # `brapped status` warns until the account is authorised again.
            log.info("account %s needs `brapped auth`: %s", user_id or "?", exc)
            continue
        except BrappedError as exc:
            household.accounts.append(AccountSync(user_id, "failed", error=exc))
            continue
        _mark_auth_needed(store, result.user_id, None, client.clock.now())
        if result.enrichment is not None:
            budget = 0  # one enrichment per round: the catalogue is shared by the household
        household.accounts.append(AccountSync(result.user_id, result.outcome, result))
        if result.rate_limited is not None:
            paused = result.rate_limited
    return household


def enrich_with_any(store: Store, clients: Sequence[SpotifyClient], **options: Any) -> EnrichResult:
    """`enrich` (same `options`) through the first account whose authorisation works.

    The catalogue is shared by the household, so any account can look it up: one whose tokens
    Spotify refused must not stop enrichment for everyone. Accounts whose last sync was refused are
    tried last; a refusal now (the refresh before any request, or during the pass) is recorded as at
    a sync and the next account takes over. Raises the last refusal when no account works.
    """
    if not clients:
        raise AuthRequired("no authorised Spotify account: run `brapped auth`")
    with store.connect() as conn:
        refused = {row["user_id"] for row in needing_auth(conn)}
    ordered = sorted(clients, key=lambda client: _known_user(client) in refused)  # stable
    last: AuthRequired | None = None
    for client in ordered:
        user_id = _known_user(client)
        try:
            # Refreshes an expired access token: a revoked account fails here, before any request.
            client.tokens.access_token()
            return enrich(store, client, **options)
        except AuthRequired as exc:
            _mark_auth_needed(store, user_id, str(exc), client.clock.now())
            log.warning("enrichment skips account %s, which needs `brapped auth`: %s", user_id or "?", exc)
            last = exc
    assert last is not None
    raise last


def _known_user(client: SpotifyClient) -> str | None:
    """The account's user id when its token file already says (no request made)."""
    store = getattr(client.tokens, "store", None)
    load = getattr(store, "load", None)
    if not callable(load):
        return None
    try:
        saved = load()
    except BrappedError:
        return None
    user_id = getattr(saved, "user_id", None)
    return str(user_id) if user_id else None


def _mark_auth_needed(store: Store, user_id: str | None, message: str | None, now: datetime) -> None:
    if user_id is None:
        return
    with store.begin(immediate=True) as conn:
        set_state(conn, AUTH_NEEDED, message, now, scope=user_id)


def needing_auth(conn: Connection) -> list[dict[str, Any]]:
    """The accounts whose tokens Spotify refused at their last sync: `user_id`, `problem`, `since`."""
    rows = conn.execute(
        select(state.c.scope, state.c.value, state.c.updated_at)
        .where(state.c.key == AUTH_NEEDED)
        .order_by(state.c.scope)
    )
    return [{"user_id": r.scope, "problem": r.value, "since": r.updated_at} for r in rows]


# --- the list of accounts -------------------------------------------------------------------------


def list_accounts(store: Store, settings: Settings) -> list[dict[str, Any]]:
    """Every user in the database (and every authorised account not synced yet), with whether brapped
    may sync it, when its authorisation ends, its last successful sync, its plays and its status.
    Keys documented in docs/reports.md."""
    authorised: dict[str, AccountTokens] = {}
    unnamed: list[AccountTokens] = []
    for account in authorised_accounts(settings):
        user = account.user_id
        if user is None:
            unnamed.append(account)
        else:
            authorised[user] = account
    with store.connect() as conn:
        names = {r.id: r.display_name for r in conn.execute(select(accounts.c.id, accounts.c.display_name))}
        # Per user from the (user_id, played_at, track_id) index: one index scan, no table rows.
        counts = {
            r[0]: r[1] for r in conn.execute(select(plays.c.user_id, func.count()).group_by(plays.c.user_id))
        }
        # A listener of podcasts or audiobooks alone is a user too.
        spoken = {
            r[0]: r[1]
            for r in conn.execute(
                select(episode_plays.c.user_id, func.count()).group_by(episode_plays.c.user_id)
            )
        }
        last_sync = {
            r[0]: r[1]
            for r in conn.execute(
                select(runs.c.user_id, func.max(runs.c.finished_at))
                .where(runs.c.kind == "sync", runs.c.outcome == "ok", runs.c.user_id.is_not(None))
                .group_by(runs.c.user_id)
            )
        }
        paused_until = resume_after(conn)
        users = sorted(set(names) | set(counts) | set(spoken) | set(authorised))
        rows = [
            _row(
                conn,
                user,
                names.get(user),
                authorised.get(user),
                counts.get(user, 0),
                last_sync.get(user),
                spoken.get(user, 0),
            )
            for user in users
        ]
    for account in unnamed:
        rows.append(_row(None, None, None, account, 0, None))
    for row in rows:
        if row["authorised"] and paused_until is not None and row["status"] == "ok":
            row["resume_after"] = paused_until
    return rows


def _row(
    conn: Connection | None,
    user: str | None,
    name: str | None,
    account: AccountTokens | None,
    play_count: int,
    last: datetime | None,
    episode_count: int = 0,
) -> dict[str, Any]:
    saved = account.saved() if account is not None else None
    problem = get_state(conn, AUTH_NEEDED, scope=user) if conn is not None and user is not None else None
    if account is None:
        status = "import-only"
    elif problem:
        status = "auth needed: run `brapped auth`"
    else:
        status = "ok"
    return {
        "id": user,
        "display_name": name or (saved.display_name if saved else None),
        "authorised": account is not None,
        "kind": "authorised" if account is not None else "import-only",
        "token_file": str(account.path) if account is not None else None,
        "token_expires_at": saved.refresh_expires_at if saved is not None else None,
        "last_sync": last,
        "plays": int(play_count),
        "episode_plays": int(episode_count),
        "status": status,
        "problem": problem,
        "resume_after": None,
    }


def remove_account(store: Store, settings: Settings, user_id: str, *, delete_plays: bool) -> dict[str, Any]:
    """Forget an account's tokens (brapped stops syncing it); with `delete_plays` also its plays,
    podcast plays, gaps, state and accounts row. Unknown ids raise."""
    with store.connect() as conn:
        known = conn.execute(select(accounts.c.id).where(accounts.c.id == user_id)).first() is not None
        has_plays = (
            conn.execute(select(plays.c.id).where(plays.c.user_id == user_id).limit(1)).first()
            or conn.execute(
                select(episode_plays.c.id).where(episode_plays.c.user_id == user_id).limit(1)
            ).first()
        )
    files = forget(settings, user_id)
    if not (known or has_plays or files):
        raise BrappedError(f"no account {user_id!r}: `brapped accounts` lists them")
    deleted = {"plays": 0, "episode_plays": 0}
    if delete_plays:
        with store.begin(immediate=True) as conn:
            deleted["plays"] = conn.execute(delete(plays).where(plays.c.user_id == user_id)).rowcount
            deleted["episode_plays"] = conn.execute(
                delete(episode_plays).where(episode_plays.c.user_id == user_id)
            ).rowcount
            conn.execute(delete(gaps).where(gaps.c.user_id == user_id))
            known_files.forget(conn, [user_id])  # its files' plays are gone: read them again
            conn.execute(delete(state).where(state.c.scope == user_id))
            conn.execute(delete(accounts).where(accounts.c.id == user_id))
    return {
        "id": user_id,
        "token_files_deleted": [str(p) for p in files],
        "plays_deleted": deleted["plays"],
        "episode_plays_deleted": deleted["episode_plays"],
    }


__all__ = [
    "AUTH_NEEDED",
    "AccountSync",
    "HouseholdSync",
    "enrich_with_any",
    "list_accounts",
    "needing_auth",
    "remove_account",
    "sync_all",
]
