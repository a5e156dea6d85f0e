from __future__ import annotations

import logging

import pytest

from brapped.logs import SecretFilter, mask_secrets


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
