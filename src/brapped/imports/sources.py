"""Finding the files to import: single files, folders and the zip Spotify sends, read safely.

Nothing is ever extracted to disk: zip members are read into memory one at a time, each capped in
size while it is being decompressed (a zip's own size fields can lie), so a zip bomb costs at most
`MAX_FILE_BYTES` of memory and the time to inflate that much, and an entry named `../../etc/passwd`
is only ever a name in a message. Only stored and deflated entries are opened: Python inflates a
bzip2 or LZMA entry a whole read at a time, past whatever size the entry states.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

from brapped.errors import BrappedError

# Spotify splits its exports into files of about 12 MB (~16,000 records); 32 MB leaves room and
# bounds a file's memory: decoded, its text takes up to four bytes a character.
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
_OPENED = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})


class ImportFileError(BrappedError):
    """One input file cannot be imported; the message names the file (and the record when useful)."""


@dataclass(frozen=True)
class Source:
    """One file to read: a display name and a way to get its bytes (size-capped)."""

    name: str
    read: Callable[[], bytes]
    size: int = 0  # its size as the folder or zip states it (0: not known): a hint, not a promise
    # Its first bytes, up to a number, without reading the rest (None: only `read` knows them).
    head: Callable[[int], bytes] | None = None

    def first_bytes(self, count: int) -> bytes:
        """Up to `count` bytes from the start: a peek that costs a small read, not the whole file."""
        return self.head(count) if self.head is not None else self.read()[:count]


@dataclass(frozen=True)
class Skipped:
    """An input that is not listening history (a PDF, a playlist file, ...), listed in the summary."""

    name: str
    reason: str


@dataclass(frozen=True)
class Broken:
    """An input that should have been readable and is not (unsafe zip entry, unreadable zip, ...)."""

    name: str
    message: str


Item = Source | Skipped | Broken


def base_name(name: str) -> str:
    """A file's own name, without folders or the zip it came from (`archive.zip!member`)."""
    return name.replace("\\", "/").rsplit("!", 1)[-1].rsplit("/", 1)[-1]


def iter_inputs(paths: Iterable[Path | str]) -> Iterator[Item]:
    """Every file under `paths` (files, folders, zips), in a stable order, as Source/Skipped/Broken."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from _walk_folder(path)
        elif path.exists() or path.is_symlink():
            yield from _file_items(path, str(path))
        else:
            yield Broken(str(path), f"{path}: no such file or folder")


def _walk_folder(folder: Path) -> Iterator[Item]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        found.extend(Path(root) / name for name in files)
    for path in sorted(found, key=lambda p: str(p)):
        yield from _file_items(path, str(path))


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _file_items(path: Path, name: str) -> Iterator[Item]:
    # A named pipe or device would block or never end: only regular files are read.
    if not _regular(path):
        yield Broken(name, f"{name}: not a regular file (a pipe, device or broken link)")
        return
    if zipfile.is_zipfile(path):
        yield from _zip_items(path, name)
    elif path.suffix.lower() == ".zip":
        yield Broken(name, f"{name}: not a readable zip (damaged or incomplete download?)")
    else:
        # A partial, not a closure: a Source can go to a worker process (see brapped.imports.worker).
        yield Source(
            name, partial(_read_file, path, name), _stated_size(path), partial(_read_file_head, path, name)
        )


def _stated_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_file(path: Path, name: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImportFileError(_too_big(name))
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImportFileError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(_too_big(name))
    return data


def _read_file_head(path: Path, name: str, count: int) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(count)
    except OSError as exc:
        raise ImportFileError(f"{name}: cannot read: {exc.strerror or exc}") from exc


def _too_big(name: str) -> str:
    return (
        f"{name}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; Spotify's own export files are "
        "far smaller, so this is not one of them"
    )


def unsafe_member_name(member: str) -> bool:
    """True for zip entry names that would escape a folder if extracted (absolute, `..`, drive)."""
    normalised = member.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        return True
    return ".." in PurePosixPath(normalised).parts


def _zip_items(path: Path, name: str) -> Iterator[Item]:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        yield Broken(name, f"{name}: not a readable zip: {exc}")
        return
    if len(infos) > MAX_ZIP_MEMBERS:
        yield Broken(name, f"{name}: {len(infos)} entries, more than the {MAX_ZIP_MEMBERS} allowed")
        return
    for info in sorted(infos, key=lambda i: i.filename):
        if info.is_dir():
            continue
        member_name = f"{name}!{info.filename}"
        if unsafe_member_name(info.filename):
            yield Broken(member_name, f"{member_name}: unsafe entry name (leaves the archive's folder)")
        elif info.filename.lower().endswith(".zip"):
            yield Skipped(member_name, "zip inside a zip (not opened)")
        elif info.compress_type not in _OPENED:
            yield Broken(
                member_name,
                f"{member_name}: compressed with method {info.compress_type}, which brapped does not "
                "open (Spotify's zips use deflate): unzip it and import the folder",
            )
        else:
            # Read on demand so only one member's bytes are in memory at a time.
            yield Source(
                member_name,
                partial(_read_zip_entry, path, info.filename, member_name),
                max(info.file_size, 0),
                partial(_read_zip_head, path, info.filename, member_name),
            )


def _read_zip_entry(path: Path, member: str, name: str) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_member(archive, archive.getinfo(member), name)
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise ImportFileError(f"{name}: cannot read zip entry: {exc}") from exc


def _read_zip_head(path: Path, member: str, name: str, count: int) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as entry:
            return entry.read(count)
    except (zipfile.BadZipFile, OSError, KeyError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ImportFileError(f"{name}: cannot read zip entry: {exc}") from exc


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    if info.file_size > MAX_FILE_BYTES:
        raise ImportFileError(_too_big(name))
    try:
        with archive.open(info) as member:
            # Python inflates a deflated entry no further than its stated size (a read ends there,
            # and its checksum then fails for a liar), so the stated size bounds memory; the
            # check after it says so in this file rather than in Python's.
            data = member.read(info.file_size)
            if member.read(1):
                raise ImportFileError(f"{name}: expands beyond its stated size (zip bomb?)")
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ImportFileError(f"{name}: damaged zip entry: {exc}") from exc
    return data
