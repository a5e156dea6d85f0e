"""Typed failures of the MusicBrainz client; each carries the exit code the CLI uses (sysexits.h)."""

from __future__ import annotations

from brapped.errors import BrappedError

EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: MusicBrainz kept failing
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: MusicBrainz kept refusing (503): try again later


class MusicBrainzError(BrappedError):
    """MusicBrainz answered with an error (or not at all, status 0) after the client's retries."""

    exit_code = EXIT_UNAVAILABLE

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        where = f"HTTP {status}" if status else "no response"
        super().__init__(f"MusicBrainz: {message} ({where})")


class Unavailable(MusicBrainzError):
    """503 (rate limit or overload) after every retry: stop now and continue in a later pass."""

    exit_code = EXIT_TEMPFAIL


class BadAnswer(MusicBrainzError):
    """A 200 whose body is not the JSON the request should get (truncated, HTML, wrong shape)."""
