"""One export file in, its format told by content and its records read: the entry point, `parse_file`.

No database here: a file's bytes go in, a `ParsedFile` (rows ready for loading) or a `Skipped`
comes out, or `ImportFileError` names the file and the record that is wrong. A file is accepted
whole or not at all, so a bad record stops the file, never half of it.
"""

from __future__ import annotations

import gc
import hashlib
import re
from datetime import datetime
from typing import Any

from brapped.imports import decoding
from brapped.imports.account import AccountReader
from brapped.imports.extended import ESCAPED_CONTROL, ExtendedReader, extended_format
from brapped.imports.extended_fast import parse_extended_fast
from brapped.imports.rows import (
    ACCOUNT_AUDIOBOOK,
    ACCOUNT_MUSIC,
    ACCOUNT_PODCAST,
    ENDSONG,
    EXTENDED,
    ParsedFile,
    spread_ends,
)
from brapped.imports.sources import ImportFileError, Skipped, base_name

_HISTORY_NAME = re.compile(r"(streaming_?history|endsong|endvideo)", re.IGNORECASE)


def looks_like_history_name(name: str) -> bool:
    """True when a file's name is one Spotify gives listening history (used to judge odd content)."""
    base = base_name(name)
    return bool(_HISTORY_NAME.search(base)) and base.lower().endswith(".json")


def parse_file(
    name: str,
    data: bytes,
    now: datetime,
    *,
    keep_personal: bool = False,
    columns: bool = False,
    fast: bool = True,
) -> ParsedFile | Skipped:
    """Detect the format of one file by its content and turn its records into rows.

    `columns`: the music plays may come back as `ParsedFile.music_columns` instead of rows (a bulk
    load's staging takes them so; see `MusicColumns`). `fast=False` reads extended history the
    careful way only, which must mean the same (the tests compare the two)."""
    # A file is hundreds of thousands of new objects and no reference cycles: the cycle
    # collector would rescan them again and again, so it waits (docs/decisions.md, "Import").
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_file(name, data, now, keep_personal, columns, fast)
    finally:
        if enabled:
            gc.enable()


_BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _parse_file(
    name: str, data: bytes, now: datetime, keep_personal: bool, columns: bool, fast: bool
) -> ParsedFile | Skipped:
    history_name = looks_like_history_name(name)
    is_json_name = name.lower().endswith(".json")
    head = data[:64].lstrip()
    if head.startswith(b"\xef\xbb\xbf"):
        data = data.lstrip()[3:]
        head = data[:64].lstrip()
    if not is_json_name and not head.startswith((b"[", b"{")):
        return Skipped(name, "not a JSON file")
    for mark, encoding in _BYTE_ORDER_MARKS:  # UTF-32's first: UTF-32 LE's begins as UTF-16 LE's
        if head.startswith(mark):
            raise ImportFileError(f"{name}: {encoding} text; Spotify's exports are UTF-8")
    if fast and not keep_personal:
        taken = parse_extended_fast(name, data, now, columns)
        if taken is not None:
            return taken
    found = decoding.document(name, data)
    if found.kind != "list":
        if history_name:
            raise ImportFileError(f"{name}: expected a JSON list of plays, found a JSON {found.kind}")
        return _not_history(name, data)
    sha256 = hashlib.sha256(data).hexdigest()
    if found.first is None:
        if history_name:
            return ParsedFile(name, sha256, _format_from_name(name), 0)
        return _not_history(name, data)
    if not history_name and len(memoryview(found.first)) > decoding.MAX_RECORD_BYTES:
        return _not_history(name, data)
    fmt = _detect(decoding.record(name, data, found.first, 0), name)
    if fmt is None:
        if history_name:
            raise ImportFileError(f"{name}: record 0: not a play in any Spotify export format")
        return _not_history(name, data)
    document = decoding.records(name, data)
    parsed = ParsedFile(name, sha256, fmt, len(document))
    if fmt in (EXTENDED, ENDSONG):
        ExtendedReader(name, now, keep_personal, parsed).extended(
            document, clean=ESCAPED_CONTROL.search(data) is None
        )
    else:
        reader = AccountReader(name, now, keep_personal, parsed)
        if fmt == ACCOUNT_MUSIC:
            reader.account_music(document)
        else:
            reader.account_spoken(document, "podcast" if fmt == ACCOUNT_PODCAST else "audiobook")
    spread_ends(parsed)
    return parsed


def _not_history(name: str, data: bytes) -> Skipped:
    """A JSON file that is not listening history, skipped; one that is not even text is an error."""
    error = decoding.not_utf8(name, data)
    if error is not None:
        raise error
    return Skipped(name, "not listening history")


def _format_from_name(name: str) -> str:
    base = base_name(name).lower()
    if "endsong" in base or "endvideo" in base:
        return ENDSONG
    if "podcast" in base:
        return ACCOUNT_PODCAST
    if "audiobook" in base:
        return ACCOUNT_AUDIOBOOK
    if "streaming_history_" in base:
        return EXTENDED
    return ACCOUNT_MUSIC


def _detect(first: Any, name: str) -> str | None:
    """The format of a file whose first record is `first`; None when it is not a play of any."""
    if not isinstance(first, dict):
        return None
    keys = first.keys()
    if "ts" in keys and "ms_played" in keys:
        personal = "username" in keys or "ip_addr_decrypted" in keys or "user_agent_decrypted" in keys
        return extended_format(name, personal)
    if "endTime" in keys and "msPlayed" in keys:
        if "trackName" in keys or "artistName" in keys:
            return ACCOUNT_MUSIC
        if "episodeName" in keys or "podcastName" in keys:
            return ACCOUNT_PODCAST
        if "chapterName" in keys or "audiobookName" in keys:
            return ACCOUNT_AUDIOBOOK
    return None
