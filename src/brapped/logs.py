"""Logging set-up: one line per event, secrets masked before anything is written."""

from __future__ import annotations

import logging
import re
import sys

from brapped.config import mask_url

# A URL inside free text (a log line, an error message): up to a space or a quote around it, and
# not the punctuation of the sentence after it ("cannot use database URL: ...").
_URL_IN_TEXT = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>:,.;)\]])")

# Bearer tokens, refresh/access tokens in form bodies or JSON (passwords: `mask_url`).
_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:access|refresh)_token[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
    re.compile(r"(?i)(client_secret[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
    re.compile(r"(?i)(code_verifier[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"),
    re.compile(r"([?&](?:code|state)=)[^&\s\"']+"),  # the authorisation code in a callback URL
)


# Control characters (C0, DEL, C1) shown as \xNN: text that reaches a terminal, a log line or the
# CLI's output, can then neither drive it (links, screen clears) nor forge lines. Spotify's own words
# (error messages, names) reach both.
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), 127, *range(128, 160)]}
# The bidirectional embeddings, overrides and isolates reorder what follows them on the line (a
# name could show another's text, or the numbers of its row backwards): shown as \uNNNN too.
_CONTROL |= {c: f"\\u{c:04x}" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


def escape_controls(text: str) -> str:
    """`text` with control characters shown as `\\xNN`, bidirectional overrides as `\\uNNNN`."""
    return text.translate(_CONTROL)


def mask_secrets(text: str) -> str:
    """Replace anything that looks like a credential with ***."""
    # Split around URLs: each URL is masked whole, the text between for libpq's password=...
    text = "".join(mask_url(piece) for piece in _URL_IN_TEXT.split(text))
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class SecretFilter(logging.Filter):
    """Masks credentials in every record, whatever module logged it (httpx logs URLs, for one), and
    shows its control characters as text: one line per event, none of it live on a terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = escape_controls(mask_secrets(record.getMessage()))
        record.args = None
        return True


def configure_logging(level: int = logging.WARNING) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SecretFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
