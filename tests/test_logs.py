from __future__ import annotations

import logging

import pytest

from brapped.cli.run import EventFormatter
from brapped.config import mask_url
from brapped.logs import SecretFilter, mask_secrets
from tests.test_config import PASSWORD_FORMS


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer BQDx-abc.def_123", "BQDx-abc.def_123"),
        ("grant_type=refresh_token&refresh_token=AQC-rt_9&client_id=x", "AQC-rt_9"),
        ('{"access_token": "BQ-access", "expires_in": 3600}', "BQ-access"),
        ("client_secret=shh-123&x=1", "shh-123"),
        ("code_verifier=verif1er&code=c", "verif1er"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("postgresql://user:dbpass@host/db", "dbpass"),
        ("GET /callback?code=AQBauthcode&state=st4te HTTP/1.1", "AQBauthcode"),
    ],
)
def test_credentials_are_masked(text: str, secret: str) -> None:
    masked = mask_secrets(text)
    assert secret not in masked
    assert "***" in masked


def test_filter_masks_formatted_records() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", ("Bearer abc.def",), None)
    assert SecretFilter().filter(record)
    assert record.getMessage() == "token Bearer ***"


@pytest.mark.parametrize(("url", "secret", "shown"), PASSWORD_FORMS)
def test_log_filter_masks_urls_in_free_text(url: str, secret: str, shown: str) -> None:
    for text in (f"cannot use database {url}: refused", f"not a database URL: {url!r}", f"({url})"):
        masked = mask_secrets(text)
        assert secret not in masked, masked
        assert shown in masked, masked


@pytest.mark.parametrize(("url", "secret", "shown"), PASSWORD_FORMS)
def test_masking_twice_changes_nothing(url: str, secret: str, shown: str) -> None:
    once = mask_url(url)
    assert mask_url(once) == once
    assert mask_secrets(f"cannot use database {once}: refused") == f"cannot use database {once}: refused"


def test_only_the_password_of_a_url_in_a_sentence_is_masked() -> None:
    text = "cannot use database postgresql://u@h/db?password=s3cret&sslmode=bogus: connection is bad"
    assert mask_secrets(text) == (
        "cannot use database postgresql://u@h/db?password=***&sslmode=bogus: connection is bad"
    )


@pytest.mark.parametrize("form", ["plain", "text", "json"])
def test_a_log_line_holds_no_live_control_character(form: str) -> None:
    # Spotify's words reach log lines (`brapped run` logs a failed sync's message): an OSC 8 link,
    # a C1 CSI (U+009B) or a line break in them must not drive the terminal nor forge a line.
    record = logging.LogRecord("brapped", logging.WARNING, __file__, 1, "sync failed: %s", None, None)
    record.args = ("down \x1b]8;;https://evil.example\x1b\\x \x9b2J\nforged line",)
    assert SecretFilter().filter(record)
    if form == "plain":
        line = logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record)
    else:
        line = EventFormatter(form).format(record)
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in line), repr(line)
    assert "\\x1b]8;;https://evil.example" in line and "\\x9b2J" in line and "\\x0aforged line" in line
