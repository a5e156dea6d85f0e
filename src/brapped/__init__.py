"""brapped: Spotify Wrapped, but better, in a database you own."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
