"""Logging set-up: one line per event, secrets masked before anything is written."""

from __future__ import annotations

import logging
import re
import sys

# Bearer tokens, refresh/access tokens in form bodies or JSON, and passwords in URLs.
_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:access|refresh)_token[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
    re.compile(r"(?i)(client_secret[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
    re.compile(r"(?i)(code_verifier[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"),
    re.compile(r"([?&](?:code|state)=)[^&\s\"']+"),  # the authorisation code in a callback URL
    re.compile(r"(://[^/:@\s]+:)[^@\s/]+(@)"),
)


def mask_secrets(text: str) -> str:
    """Replace anything that looks like a credential with ***."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***" + (m.group(2) if m.lastindex == 2 else ""), text)
    return text


class SecretFilter(logging.Filter):
    """Masks credentials in every record, whatever module logged it (httpx logs URLs, for one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_secrets(record.getMessage())
        record.args = None
        return True


def configure_logging(level: int = logging.WARNING) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SecretFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
