"""Typed failures of the Spotify client; each carries the exit code the CLI uses (sysexits.h)."""

from __future__ import annotations

from datetime import datetime

from brapped.errors import BrappedError

EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: Spotify kept failing (5xx, dropped connections)
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: rate limited; try again after the stored resume time
EXIT_NOPERM = 77  # EX_NOPERM: not authorised; run `brapped auth`


class SpotifyError(BrappedError):
    """Spotify answered with an error (or not at all, status 0) after the client's retries."""

    exit_code = EXIT_UNAVAILABLE

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        where = f"HTTP {status}" if status else "no response"
        super().__init__(f"Spotify: {message} ({where})")


class RateLimited(SpotifyError):
    """A 429 whose Retry-After is longer than brapped is willing to wait."""

    exit_code = EXIT_TEMPFAIL

    def __init__(self, retry_after: int, resume_at: datetime) -> None:
        self.retry_after = retry_after
        self.resume_at = resume_at
        self.status = 429
        self.message = f"rate limited for {retry_after} s"
        BrappedError.__init__(
            self,
            f"Spotify rate limit: asked to wait {retry_after:,} s; "
            f"resume after {resume_at.isoformat(timespec='seconds').replace('+00:00', 'Z')}",
        )


class AuthRequired(BrappedError):
    """No usable authorisation: run `brapped auth` (or set the SPOTIFY_* environment variables)."""

    exit_code = EXIT_NOPERM


class AuthExpired(AuthRequired):
    """Spotify refused the refresh token (revoked, expired, already used): authorise again."""


class AuthFlowError(BrappedError):
    """The interactive authorisation did not complete (denied, wrong state, timed out)."""

    exit_code = EXIT_NOPERM
