"""Several Spotify accounts on one app (a household): where each account's tokens live.

- `BRAPPED_HOME/token.json`: the first account, exactly the file single-account brapped always used
  (so an existing home keeps working untouched: nothing has to move).
- `BRAPPED_HOME/tokens/<user id>.json`: every further account authorised with `brapped auth`.
- `BRAPPED_HOME/tokens/env-<fingerprint>.json`: the second and later refresh tokens given to a headless
  server (SPOTIFY_REFRESH_TOKEN with several values, or SPOTIFY_REFRESH_TOKENS_FILE); the first one
  seeds token.json as before. Named after the token it started from, so a rotated successor is found
  again on the next start while the spent environment copy is ignored.

Every file is a `TokenStore`: mode 0600, replaced atomically, with its own lock, so rotation is as
safe for each account as it is for one.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from brapped.config import Settings
from brapped.spotify.auth import TokenSet, TokenStore, fingerprint
from brapped.spotify.errors import AuthRequired

TOKENS_DIR = "tokens"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class AccountTokens:
    """One authorised account's token file, and the environment token it is seeded from (if any)."""

    path: Path
    env_refresh_token: str | None = None

    def store(self) -> TokenStore:
        return TokenStore(self.path)

    def saved(self) -> TokenSet | None:
        """The tokens on disk (None when missing or unreadable: `sync` says what is wrong)."""
        try:
            return self.store().load()
        except AuthRequired:
            return None

    @property
    def user_id(self) -> str | None:
        saved = self.saved()
        return saved.user_id if saved is not None else None


def tokens_dir(settings: Settings) -> Path:
    return settings.home / TOKENS_DIR


def account_file(settings: Settings, user_id: str) -> Path:
    """Where a further account's tokens go: its id when that is a safe file name, else a fingerprint."""
    name = user_id if _SAFE_NAME.fullmatch(user_id) and not user_id.startswith("env-") else None
    return tokens_dir(settings) / f"{name or 'user-' + fingerprint(user_id)}.json"


def env_refresh_tokens(settings: Settings) -> list[str]:
    """Refresh tokens for headless use: SPOTIFY_REFRESH_TOKEN (several separated by commas or
    whitespace), then the lines of SPOTIFY_REFRESH_TOKENS_FILE (blank lines and `#` comments skipped)."""
    found: list[str] = []
    if settings.refresh_token:
        found += [t for t in _SEPARATORS.split(str(settings.refresh_token)) if t]
    listed = settings.values.get("refresh_tokens_file")
    if listed:
        path = Path(str(listed)).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AuthRequired(f"cannot read SPOTIFY_REFRESH_TOKENS_FILE {path}: {exc.strerror}") from exc
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                found += [t for t in _SEPARATORS.split(line) if t]
    return list(dict.fromkeys(found))


def primary_account(settings: Settings) -> AccountTokens:
    """token.json, seeded from the first environment token (what single-account brapped did)."""
    env = env_refresh_tokens(settings)
    return AccountTokens(settings.token_file, env[0] if env else None)


def authorised_accounts(settings: Settings) -> list[AccountTokens]:
    """Every account brapped may sync, primary first, one per Spotify user.

    A file whose user is already listed (an older copy left by a changed environment token) is left
    out: the primary wins, then files seeded from the current environment, then the newest consent.
    """
    env = env_refresh_tokens(settings)
    candidates: list[AccountTokens] = []
    if settings.token_file.exists() or env:
        candidates.append(AccountTokens(settings.token_file, env[0] if env else None))
    env_files = {tokens_dir(settings) / f"env-{fingerprint(token)}.json": token for token in env[1:]}
    candidates += [AccountTokens(path, token) for path, token in env_files.items()]
    folder = tokens_dir(settings)
    if folder.is_dir():
        others = [p for p in folder.glob("*.json") if p not in env_files and not p.name.startswith(".")]
        dated = [(AccountTokens(p), AccountTokens(p).saved()) for p in others]
        dated.sort(key=lambda pair: pair[1].issued_at.timestamp() if pair[1] else 0.0, reverse=True)
        candidates += [account for account, _ in dated]
    chosen: list[AccountTokens] = []
    seen: set[str] = set()
    for account in candidates:
        user = account.user_id
        if user is not None and user in seen:
            continue
        if user is not None:
            seen.add(user)
        chosen.append(account)
    return chosen


def find_account(settings: Settings, user_id: str) -> AccountTokens | None:
    """The token file of `user_id`, if that account is authorised."""
    return next((a for a in authorised_accounts(settings) if a.user_id == user_id), None)


def pending_file(settings: Settings) -> Path:
    """Where `brapped auth` saves the tokens of a new consent before `/me` says whose they are."""
    return tokens_dir(settings) / f".pending-{secrets.token_hex(8)}.json"


def file_for_new_consent(settings: Settings) -> Path:
    """token.json when no account is authorised yet (as always), else a pending file in tokens/."""
    if primary_account(settings).saved() is None and not env_refresh_tokens(settings):
        return settings.token_file
    return pending_file(settings)


def settle(settings: Settings, pending: Path, user_id: str) -> Path:
    """Move the tokens of a finished consent to their account's file and return it: the file the user
    already had (a second `brapped auth` for the same account renews it), else tokens/<user id>.json."""
    if pending == settings.token_file:
        return pending
    existing = find_account(settings, user_id)
    target = existing.path if existing is not None else account_file(settings, user_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    pending.replace(target)  # atomic; the pending file was written with mode 0600
    return target


def forget(settings: Settings, user_id: str | None = None) -> list[Path]:
    """Delete the token files of `user_id` (every account when None); returns what was deleted."""
    gone: list[Path] = []
    for account in authorised_accounts(settings):
        if (user_id is None or account.user_id == user_id) and account.store().delete():
            gone.append(account.path)
    return gone


__all__ = [
    "TOKENS_DIR",
    "AccountTokens",
    "account_file",
    "authorised_accounts",
    "env_refresh_tokens",
    "file_for_new_consent",
    "find_account",
    "forget",
    "pending_file",
    "primary_account",
    "settle",
    "tokens_dir",
]
