"""The base of every error brapped reports to a user (the CLI prints its message, no traceback)."""

from __future__ import annotations


class BrappedError(Exception):
    """An expected failure with a message fit for the user; `exit_code` is what the CLI exits with."""

    exit_code: int = 1
