"""Settings in one object. Precedence: command-line flag > environment > config file > default."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import platformdirs

from brapped.errors import BrappedError

Source = Literal["flag", "env", "config", "default"]


class ConfigError(BrappedError):
    """The configuration file or a setting's value is unusable."""


@dataclass(frozen=True)
class Spec:
    name: str
    env: str
    default: Any
    kind: type = str
    secret: bool = False
    help: str = ""


def _default_timezone() -> str:
    try:
        import tzlocal

        name = tzlocal.get_localzone_name()
        return str(name) if name else "UTC"
    except Exception:  # tzlocal gives up on odd systems; UTC is an honest fallback
        return "UTC"


# The one list of settings. Names are the config.toml keys.
SPECS: tuple[Spec, ...] = (
    Spec("database_url", "BRAPPED_DATABASE_URL", None, help="database URL (default: SQLite in home)"),
    Spec("timezone", "BRAPPED_TIMEZONE", None, help="IANA zone for reports (default: system zone)"),
    Spec("client_id", "SPOTIFY_CLIENT_ID", None, help="Spotify app client id"),
    Spec("client_secret", "SPOTIFY_CLIENT_SECRET", None, secret=True, help="Spotify app secret"),
    Spec(
        "refresh_token",
        "SPOTIFY_REFRESH_TOKEN",
        None,
        secret=True,
        help="headless refresh token(s), comma-separated",
    ),
    Spec(
        "refresh_tokens_file",
        "SPOTIFY_REFRESH_TOKENS_FILE",
        None,
        help="file of headless refresh tokens, one a line",
    ),
    Spec("api_url", "BRAPPED_SPOTIFY_API_URL", "https://api.spotify.com/v1", help="Web API base"),
    Spec(
        "accounts_url",
        "BRAPPED_SPOTIFY_ACCOUNTS_URL",
        "https://accounts.spotify.com",
        help="accounts service base",
    ),
    Spec("redirect_port", "BRAPPED_REDIRECT_PORT", 8888, int, help="loopback port for auth"),
    Spec("retry_after_cap", "BRAPPED_RETRY_AFTER_CAP", 60, int, help="longest 429 wait, seconds"),
    Spec("enrich_budget", "BRAPPED_ENRICH_BUDGET", 50, int, help="API calls enrich may use in sync"),
    Spec("stream_threshold_ms", "BRAPPED_STREAM_THRESHOLD_MS", 30000, int, help="stream minimum"),
    Spec("session_gap_minutes", "BRAPPED_SESSION_GAP_MINUTES", 30, int, help="session split"),
    Spec("sync_interval_minutes", "BRAPPED_SYNC_INTERVAL", 30, int, help="`run` sync interval"),
    Spec("report_time", "BRAPPED_REPORT_TIME", "08:00", help="local time `run` writes the report"),
    Spec("webhook_url", "BRAPPED_WEBHOOK_URL", None, secret=True, help="daily report webhook"),
    Spec("smtp_url", "BRAPPED_SMTP_URL", None, secret=True, help="smtp://user:pass@host:port"),
    Spec("mail_to", "BRAPPED_MAIL_TO", None, help="daily report recipient"),
    Spec("dashboard_token", "BRAPPED_DASHBOARD_TOKEN", None, secret=True, help="dashboard token"),
    Spec("musicbrainz", "BRAPPED_MUSICBRAINZ", True, bool, help="look up genres on MusicBrainz"),
    Spec("musicbrainz_url", "BRAPPED_MUSICBRAINZ_URL", "https://musicbrainz.org/ws/2", help="ws/2 base"),
    Spec(
        "musicbrainz_contact",
        "BRAPPED_MUSICBRAINZ_CONTACT",
        "https://github.com/brapped/brapped",
        help="contact (URL or e-mail) in the MusicBrainz User-Agent",
    ),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


@dataclass(frozen=True)
class Settings:
    """Effective settings and where each value came from."""

    home: Path
    values: Mapping[str, Any]
    sources: Mapping[str, Source] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not real attributes: the settings themselves.
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def get(self, name: str) -> Any:
        return self.values[name]

    @property
    def db_url(self) -> str:
        url = self.values.get("database_url")
        return str(url) if url else f"sqlite:///{self.home / 'brapped.db'}"

    @property
    def tz(self) -> str:
        return str(self.values.get("timezone") or _default_timezone())

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"

    @property
    def token_file(self) -> Path:
        return self.home / "token.json"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    def shown(self) -> list[tuple[str, str, Source]]:
        """(name, value as text with secrets masked, source) for display."""
        rows: list[tuple[str, str, Source]] = [("home", str(self.home), self.sources["home"])]
        for spec in SPECS:
            value = self.values.get(spec.name)
            if spec.name == "database_url":
                text = mask_url(self.db_url)
            elif spec.name == "timezone":
                text = self.tz
            elif value is None:
                text = ""
            elif spec.secret:
                text = mask_secret(str(value))
            elif isinstance(value, bool):
                text = "true" if value else "false"  # as config.toml takes it, not Python's True
            else:
                text = str(value)
            rows.append((spec.name, text, self.sources[spec.name]))
        return rows


def mask_secret(value: str) -> str:
    """Enough to recognise which secret it is, never enough to use it."""
    if len(value) <= 8:
        return "***"
    return f"{value[:2]}***{value[-2:]}"


# A key whose value libpq (or a driver) takes as a password: password, sslpassword, PGPASSWORD...
_PASSWORD_KEY = r"[A-Za-z_]*pass(?:word|wd)?"
# In a URL's query the value runs to the next parameter; in a key=value string it may be quoted.
_QUERY_PASSWORD = re.compile(rf"(?i)([?&;]{_PASSWORD_KEY}=)[^&#]*")
_KEYWORD_PASSWORD = re.compile(rf"(?i)(\b{_PASSWORD_KEY}\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|[^\s'\"]+)")


def mask_url(url: str) -> str:
    """The URL (or libpq `key=value` string) with every password replaced by ***, safe to show.

    The password after `user:` ends at the last `@` of the address, so an unencoded `@` in it is
    hidden too; a malformed URL is masked the same way, never echoed as it was given.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return _KEYWORD_PASSWORD.sub(r"\1***", url)
    query_at = rest.find("?")
    before_query = rest if query_at < 0 else rest[:query_at]
    # An @ in the query (application_name=a@b) is not the end of the user's part; a ? in the
    # password is not the start of the query when the only @ comes after it.
    at = before_query.rfind("@")
    if at < 0:
        at = rest.rfind("@")
    if at >= 0:
        user, colon, _password = rest[:at].partition(":")
        if colon:
            rest = f"{user}:***{rest[at:]}"
    return scheme + separator + _QUERY_PASSWORD.sub(r"\1***", rest)


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("brapped", appauthor=False))


def make_home(path: Path) -> None:
    """Create brapped's home folder (or a folder for its secrets) readable by its owner alone; a
    folder that exists keeps the mode its owner gave it (docs/operations.md)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _convert(spec: Spec, raw: Any, origin: str) -> Any:
    if raw is None:
        return None
    if spec.kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{spec.name} from {origin} must be true or false, not {raw!r}")
    if spec.kind is int:
        try:
            return int(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{spec.name} from {origin} must be a whole number, not {raw!r}") from exc
    return str(raw)


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | str | None = None,
) -> Settings:
    """Resolve every setting. `flags` holds command-line values (None = not given)."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    sources: dict[str, Source] = {}
    if home is not None:
        home_path, sources["home"] = Path(home).expanduser(), "flag"
    elif env.get("BRAPPED_HOME"):
        home_path, sources["home"] = Path(env["BRAPPED_HOME"]).expanduser(), "env"
    else:
        home_path, sources["home"] = default_home(), "default"

    file_values: dict[str, Any] = {}
    config_file = home_path / "config.toml"
    if config_file.exists():
        try:
            file_values = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config_file}: not valid TOML: {exc}") from exc
        unknown = sorted(set(file_values) - set(SPEC_BY_NAME))
        if unknown:
            raise ConfigError(f"{config_file}: unknown setting(s): {', '.join(unknown)}")

    values: dict[str, Any] = {}
    for spec in SPECS:
        if spec.name in flags:
            values[spec.name] = _convert(spec, flags[spec.name], "the command line")
            sources[spec.name] = "flag"
        elif env.get(spec.env):
            values[spec.name] = _convert(spec, env[spec.env], spec.env)
            sources[spec.name] = "env"
        elif spec.name in file_values:
            values[spec.name] = _convert(spec, file_values[spec.name], str(config_file))
            sources[spec.name] = "config"
        else:
            values[spec.name] = spec.default
            sources[spec.name] = "default"
    if values.get("timezone"):
        _check_timezone(str(values["timezone"]))
    return Settings(home=home_path, values=values, sources=sources)


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown timezone {name!r}: use an IANA name like Europe/Berlin") from exc
