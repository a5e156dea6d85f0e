"""Readers for Spotify's data exports: finding files, detecting formats, records to rows (no database)."""

from __future__ import annotations

from brapped.imports.formats import (
    ACCOUNT_FORMATS,
    FORMATS,
    EpisodeRow,
    MusicColumns,
    MusicRow,
    ParsedFile,
    looks_like_history_name,
    parse_file,
    parse_stored,
)
from brapped.imports.sources import Broken, ImportFileError, Skipped, Source, iter_inputs

__all__ = [
    "ACCOUNT_FORMATS",
    "FORMATS",
    "Broken",
    "EpisodeRow",
    "ImportFileError",
    "MusicColumns",
    "MusicRow",
    "ParsedFile",
    "Skipped",
    "Source",
    "iter_inputs",
    "looks_like_history_name",
    "parse_file",
    "parse_stored",
]
