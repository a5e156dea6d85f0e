"""Readers for Spotify's data exports: finding files, detecting formats, records to rows (no database).

The modules, in the order data flows through them:

- `sources`: the files to read (single files, folders, zips), size-capped, as `Source`s.
- `detect`: `parse_file`, the entry point: a file's format told by its content, its records read.
- `decoding`: a file's JSON decoded within bounds (its first record, then a record at a time).
- `extended` / `extended_fast`: extended streaming history record by record (the careful reading,
  which words every error), and the same decoded by msgspec and checked a column at a time.
- `account`: the account-data formats (StreamingHistory_music, podcast and audiobook histories).
- `fields`: the checks and limits every record's fields pass, shared by the readers.
- `rows`: what a file becomes: `MusicRow`, `EpisodeRow`, `MusicColumns`, `ParsedFile`.
- `merge`: which imported plays are new, known, or the same play sync saw (pure functions).
- `worker`: reading and staging files in a worker process (imported as a module, not from here).

Code outside this package imports from here.
"""

from __future__ import annotations

from brapped.imports.detect import looks_like_history_name, parse_file
from brapped.imports.fields import FUTURE_SLACK
from brapped.imports.merge import (
    COVERED,
    KNOWN,
    MERGED,
    NEW,
    REPLACED,
    TOLERANCE_MS,
    Decision,
    Incoming,
    Stored,
    decide,
)
from brapped.imports.rows import (
    ACCOUNT_AUDIOBOOK,
    ACCOUNT_FORMATS,
    ACCOUNT_MUSIC,
    ACCOUNT_PODCAST,
    DIMENSION_FIELDS,
    ENDSONG,
    EXTENDED,
    FORMATS,
    PROFILE_FIELDS,
    SKIP_LOCAL,
    SKIP_NO_CONTENT,
    SKIP_NO_NAMES,
    EpisodeRow,
    MusicColumns,
    MusicRow,
    ParsedFile,
    dimension_fields,
    dimension_key,
    music_row,
    parse_stored,
)
from brapped.imports.sources import Broken, ImportFileError, Skipped, Source, iter_inputs

__all__ = [
    "ACCOUNT_AUDIOBOOK",
    "ACCOUNT_FORMATS",
    "ACCOUNT_MUSIC",
    "ACCOUNT_PODCAST",
    "COVERED",
    "DIMENSION_FIELDS",
    "ENDSONG",
    "EXTENDED",
    "FORMATS",
    "FUTURE_SLACK",
    "KNOWN",
    "MERGED",
    "NEW",
    "PROFILE_FIELDS",
    "REPLACED",
    "SKIP_LOCAL",
    "SKIP_NO_CONTENT",
    "SKIP_NO_NAMES",
    "TOLERANCE_MS",
    "Broken",
    "Decision",
    "EpisodeRow",
    "ImportFileError",
    "Incoming",
    "MusicColumns",
    "MusicRow",
    "ParsedFile",
    "Skipped",
    "Source",
    "Stored",
    "decide",
    "dimension_fields",
    "dimension_key",
    "iter_inputs",
    "looks_like_history_name",
    "music_row",
    "parse_file",
    "parse_stored",
]
