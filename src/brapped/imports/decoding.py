"""A file's JSON decoded within bounds: whatever a file holds, reading it takes memory in proportion
to its size, never to the number of values in it.

Decoding a whole file at once makes a Python object of every value in it: 63 MB of `[{},{},…]` are
21 million dicts, 2 GB. Here the document is checked and its first record taken without building
anything (`document`), so a file that is not listening history is told by that record alone; the
records of one that is stay slices of the file (`Records`), each decoded when it is read and capped
in size, and their number is capped before they are listed. The limits are generous for Spotify's
files: an extended-history file holds about 16,000 records of under 2 KB (Spotify splits its
exports at about 12 MB), an account-data file 10,000.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from brapped.imports.sources import ImportFileError

MAX_RECORDS = 50_000
MAX_RECORD_BYTES = 256 * 1024
# Commas bound the records of a list before it is listed (a record of Spotify's holds 4 to 26
# values); listing one costs about 56 bytes a record, so this bounds that to about 90 MB.
MAX_VALUES = 32 * MAX_RECORDS
_UTF8_CHUNK = 1024 * 1024


class _Head(msgspec.Struct, array_like=True):
    """A JSON list's first element, kept raw; the rest is checked and skipped, never built."""

    first: msgspec.Raw


_HEAD = msgspec.json.Decoder(_Head)
_RAW = msgspec.json.Decoder(msgspec.Raw)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
# The type a JSON value that is not a list would have in Python, by its first byte.
_KINDS = {ord("{"): "dict", ord('"'): "str", ord("t"): "bool", ord("f"): "bool", ord("n"): "NoneType"}
_VALUE = re.compile(rb"[^ \t\r\n]")


@dataclass(frozen=True)
class Document:
    """What a file's JSON is, told without decoding its values: a list and its first record
    (`first`, None for an empty list), or another value (`kind`: its Python type's name)."""

    kind: str
    first: msgspec.Raw | None = None


def document(name: str, data: bytes) -> Document:
    """The document's shape; raises `ImportFileError` when it is not JSON at all."""
    try:
        return Document("list", _HEAD.decode(data).first)
    except msgspec.ValidationError:
        pass  # not a list, or an empty one: the first byte tells which
    except (msgspec.DecodeError, RecursionError) as exc:
        raise invalid_json(name, data, exc) from exc
    try:
        _RAW.decode(data)  # a value that is not a list is still checked to be JSON
    except (msgspec.DecodeError, RecursionError) as exc:
        raise invalid_json(name, data, exc) from exc
    start = _VALUE.search(data)
    assert start is not None  # valid JSON holds a value
    kind = data[start.start()]
    if kind == ord("["):
        return Document("list")
    found = _KINDS.get(kind)
    if found is None:  # a number: the whole document
        found = "float" if any(c in data for c in (b".", b"e", b"E")) else "int"
    return Document(found)


def records(name: str, data: bytes) -> Records:
    """The records of a file that is a JSON list (`document` said so), counted before they are listed."""
    commas = data.count(b",")
    if commas >= MAX_VALUES:
        raise ImportFileError(
            f"{name}: more than {MAX_VALUES:,} values, more than one file may hold ({MAX_RECORDS:,} "
            "records); Spotify's own files hold about 16,000 records each"
        )
    try:
        raws = _RAW_LIST.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:  # `document` checked it: never in practice
        raise invalid_json(name, data, exc) from exc
    if len(raws) > MAX_RECORDS:
        raise too_many_records(name, len(raws))
    return Records(name, data, raws)


def too_many_records(name: str, count: int) -> ImportFileError:
    """The error for a file of more records than one file may hold."""
    return ImportFileError(
        f"{name}: {count:,} records, more than the {MAX_RECORDS:,} one file may hold; Spotify's own "
        "files hold about 16,000 records each"
    )


class Records:
    """A JSON list's records, each decoded when it is read (`records[i]`, or in order by iterating).

    Only the record in hand is ever decoded: a file's memory is its bytes, a slice of them per
    record and the rows made of them.
    """

    def __init__(self, name: str, data: bytes, raws: list[msgspec.Raw]) -> None:
        self._name, self._data, self._raws = name, data, raws

    def __len__(self) -> int:
        return len(self._raws)

    def __getitem__(self, index: int) -> Any:
        return record(self._name, self._data, self._raws[index], index)

    def __iter__(self) -> Iterator[Any]:
        name, data = self._name, self._data
        for index, raw in enumerate(self._raws):
            yield record(name, data, raw, index)


def record(name: str, data: bytes, raw: msgspec.Raw, index: int) -> Any:
    """Record `index` of the file `data` (its slice `raw`) decoded; `ImportFileError` when it is too
    big or not valid JSON (the file's structure was checked, its text not yet)."""
    view = memoryview(raw)
    if len(view) > MAX_RECORD_BYTES:
        raise ImportFileError(
            f"{name}: record {index}: {len(view):,} bytes long, more than the {MAX_RECORD_BYTES:,} "
            "a record may take (Spotify's are under 2 KB)"
        )
    try:
        return orjson.loads(view)
    except orjson.JSONDecodeError as exc:
        raise not_utf8(name, data) or ImportFileError(
            f"{name}: record {index}: not valid JSON: {exc}"
        ) from exc


def invalid_json(name: str, data: bytes, exc: Exception) -> ImportFileError:
    """The error for a file that does not decode: not UTF-8, empty, or not JSON."""
    error = not_utf8(name, data)
    if error is not None:
        return error
    if not data or data.isspace():
        return ImportFileError(f"{name}: empty file")
    if isinstance(exc, RecursionError):
        return ImportFileError(f"{name}: not valid JSON (truncated or damaged?): nested too deeply")
    return ImportFileError(f"{name}: not valid JSON (truncated or damaged?): {exc}")


def not_utf8(name: str, data: bytes) -> ImportFileError | None:
    """The error for a file that is not UTF-8 text, naming its first bad byte; None when it is text."""
    bad = _utf8_error(data)
    if bad is None:
        return None
    return ImportFileError(f"{name}: not UTF-8 text (byte 0x{data[bad]:02x} at offset {bad})")


def _utf8_error(data: bytes) -> int | None:
    """The offset of the first byte that is not UTF-8, or None; a slice at a time, never a whole
    copy of the file as text (which can take four times its size)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), _UTF8_CHUNK):
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(view[start : start + _UTF8_CHUNK], final=start + _UTF8_CHUNK >= len(data))
        except UnicodeDecodeError as exc:
            return start - pending + exc.start
    return None
