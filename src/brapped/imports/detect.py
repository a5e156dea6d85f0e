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

import orjson

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
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(f"{name}: UTF-16 text; Spotify's exports are UTF-8")
    if fast and not keep_personal:
        taken = parse_extended_fast(name, data, now, columns)
        if taken is not None:
            return taken
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise ImportFileError(
                f"{name}: not UTF-8 text (byte 0x{data[bad.start]:02x} at offset {bad.start})"
            ) from bad
        if not data.strip():
            raise ImportFileError(f"{name}: empty file") from exc
        raise ImportFileError(f"{name}: not valid JSON (truncated or damaged?): {exc}") from exc
    sha256 = hashlib.sha256(data).hexdigest()

    if not isinstance(document, list):
        if history_name:
            raise ImportFileError(
                f"{name}: expected a JSON list of plays, found a JSON {type(document).__name__}"
            )
        return Skipped(name, "not listening history")
    fmt = _detect(document, name)
    if fmt is None:
        if history_name:
            if not document:
                return ParsedFile(name, sha256, _format_from_name(name), 0)
            raise ImportFileError(f"{name}: record 0: not a play in any Spotify export format")
        return Skipped(name, "not listening history")
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


def _detect(document: list[Any], name: str) -> str | None:
    if not document or not isinstance(document[0], dict):
        return None
    keys = document[0].keys()
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
