"""Readers for Spotify's data exports: finding files, detecting formats, records to rows (no database)."""

from __future__ import annotations

from brapped.imports.formats import (
    ACCOUNT_FORMATS,
    DIMENSION_FIELDS,
    FORMATS,
    PROFILE_FIELDS,
    EpisodeRow,
    MusicColumns,
    MusicRow,
    ParsedFile,
    dimension_fields,
    dimension_key,
    looks_like_history_name,
    music_row,
    parse_file,
    parse_stored,
)
from brapped.imports.sources import Broken, ImportFileError, Skipped, Source, iter_inputs

__all__ = [
    "ACCOUNT_FORMATS",
    "DIMENSION_FIELDS",
    "FORMATS",
    "PROFILE_FIELDS",
    "Broken",
    "EpisodeRow",
    "ImportFileError",
    "MusicColumns",
    "MusicRow",
    "ParsedFile",
    "Skipped",
    "Source",
    "dimension_fields",
    "dimension_key",
    "iter_inputs",
    "looks_like_history_name",
    "music_row",
    "parse_file",
    "parse_stored",
]
