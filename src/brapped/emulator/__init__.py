"""An emulator of the parts of Spotify brapped uses: accounts, Web API, a listener and its exports.

See docs/emulator.md for what it covers and where it differs from Spotify.
"""

from __future__ import annotations

from brapped.emulator.accounts import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URIS
from brapped.emulator.clock import EmulatedClock
from brapped.emulator.exports import write_export
from brapped.emulator.faults import Counters, Fault
from brapped.emulator.listener import PlayContext, TruePlay
from brapped.emulator.server import EmulatorASGI, serve_in_thread
from brapped.emulator.service import DEFAULT_SCOPE, MODES, Emulator

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REDIRECT_URIS",
    "DEFAULT_SCOPE",
    "MODES",
    "Counters",
    "EmulatedClock",
    "Emulator",
    "EmulatorASGI",
    "Fault",
    "PlayContext",
    "TruePlay",
    "serve_in_thread",
    "write_export",
]
