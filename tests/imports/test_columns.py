"""`parse_file(columns=True)`: the music plays as columns (`MusicColumns`) mean exactly the rows.

Every file is parsed three ways: with columns, with rows (the default), and the careful way (the fast
reading switched off, an independent path). The plays, episodes, counters and facts must be equal,
and so must the rows a staging image (`staging.stage`) gives back.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bench.generate import generate_exports

from brapped.imports import (
    DIMENSION_FIELDS,
    ENDSONG,
    PROFILE_FIELDS,
    SKIP_LOCAL,
    SKIP_NO_CONTENT,
    MusicColumns,
    MusicRow,
    ParsedFile,
    dimension_fields,
    parse_file,
    staging,
)
from tests.conftest import SAMPLES

NOW = datetime(2026, 11, 23, tzinfo=UTC)
EXTENDED_SAMPLES = sorted([*SAMPLES.glob("*Streaming_History_*.json"), *SAMPLES.glob("*endsong*.json")])
ACCOUNT_MUSIC_SAMPLE = SAMPLES / "hobbies-w-erin__Spotify-Account-Data__StreamingHistory_music_0.json"
SEEDS = (1, 7, 11)


def _parse(name: str, data: bytes, *, columns: bool) -> ParsedFile:
    parsed = parse_file(name, data, NOW, columns=columns)
    assert isinstance(parsed, ParsedFile), name
    return parsed


def _careful(name: str, data: bytes) -> ParsedFile:
    """The file read the careful way only (orjson and the per-record checks): no columns there."""
    parsed = parse_file(name, data, NOW, columns=True, fast=False)
    assert isinstance(parsed, ParsedFile), name
    assert parsed.music_columns is None
    return parsed


def _plays(parsed: ParsedFile) -> list[MusicRow]:
    if parsed.music_columns is None:
        return parsed.music
    assert parsed.music == []  # the plays are in one place or the other, never both
    return parsed.music_columns.rows()


def _facts(parsed: ParsedFile) -> tuple[Any, ...]:
    return (
        parsed.name,
        parsed.format,
        parsed.username,
        parsed.sha256,
        parsed.records,
        dict(parsed.skipped),
        parsed.first,
        parsed.last,
    )


def _assert_same(name: str, data: bytes) -> ParsedFile:
    """The columns parse means what the rows parse and the careful parse mean; returns it."""
    with_columns = _parse(name, data, columns=True)
    with_rows = _parse(name, data, columns=False)
    careful = _careful(name, data)
    assert with_rows.music_columns is None
    assert _plays(with_columns) == with_rows.music == careful.music
    assert with_columns.episodes == with_rows.episodes == careful.episodes
    assert _facts(with_columns) == _facts(with_rows) == _facts(careful)
    return with_columns


def _fields(entry: Any) -> tuple[Any, ...]:
    """An entry of `profiles` or `dimensions` as its fields (a dimension may be one text that
    `dimension_key` made of them)."""
    return dimension_fields(entry) if isinstance(entry, str) else tuple(entry)


def _assert_numbered(columns: MusicColumns) -> None:
    """Each number points at an entry, each distinct value is there once, numbered where it first
    occurs among the plays (worked out here from the rows, field by field)."""
    rows = columns.rows()
    for numbers, entries, fields in (
        (columns.profile, columns.profiles, PROFILE_FIELDS),
        (columns.dimension, columns.dimensions, DIMENSION_FIELDS),
    ):
        assert len(numbers) == len(rows)
        assert set(numbers) == set(entries)  # every number is an entry, every entry is used
        values = {number: _fields(entry) for number, entry in entries.items()}
        assert len(set(values.values())) == len(values), fields  # each distinct value once
        first: dict[tuple[Any, ...], int] = {}
        for position, row in enumerate(rows):
            value = tuple(getattr(row, f) for f in fields)
            first.setdefault(value, position)
            assert numbers[position] == first[value], (fields, position)
            assert values[numbers[position]] == value
        assert list(entries) == sorted(entries)  # the dictionaries are in first-seen order


def _image_rows(staged: staging.StagedFile, spans: list[tuple[str, str]]) -> list[tuple[int, MusicRow]]:
    """The staged plays as `image_rows` reads them from the image attached to a new connection."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db.execute("ATTACH DATABASE ':memory:' AS img")
        db.deserialize(staged.image, name="img")
        return staging.image_rows(db, "img", spans, staged.dimensions)
    finally:
        db.close()


EVERYTHING = [("0000", "9999")]


def _assert_stages_as_rows(name: str, data: bytes, *, columns: bool) -> None:
    """`stage` then `image_rows` gives back the plays of the rows parse, in file order."""
    expected = _parse(name, data, columns=False)
    parsed = _parse(name, data, columns=columns)
    staged = staging.stage(parsed)
    music = expected.music
    assert staged.music == len(music)
    assert staged.parsed.music == [] and staged.parsed.music_columns is None
    assert staged.parsed.episodes == expected.episodes
    assert (staged.first, staged.last) == (expected.first, expected.last)
    ends = [row.played_at for row in music]
    assert (staged.music_first, staged.music_last) == ((min(ends), max(ends)) if ends else (None, None))
    if not music:
        assert staged.image == b"" and staged.dimensions == {}
        return
    assert _image_rows(staged, EVERYTHING) == list(enumerate(music, start=1))
    # A span picks the plays ending within it (both ends included), with their positions.
    low, high = sorted(ends)[len(ends) // 3], sorted(ends)[2 * len(ends) // 3]
    inside = [(i, row) for i, row in enumerate(music, start=1) if low <= row.played_at <= high]
    assert _image_rows(staged, [(low, high)]) == inside
    assert _image_rows(staged, [(low, high), EVERYTHING[0]]) == list(enumerate(music, start=1))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[int, list[Path]]:
    """Small generated exports (with podcast episodes among the plays), by seed."""
    found = {}
    for seed in SEEDS:
        folder = tmp_path_factory.mktemp(f"export{seed}")
        generate_exports(folder, plays=2500, seed=seed, max_bytes=200_000)
        found[seed] = sorted(folder.glob("*.json"))
        assert len(found[seed]) >= 5
    return found


def _records(path: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(path.read_bytes())
    return records


def _track_records(records: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (r for r in records if r["spotify_track_uri"])


# -- real samples -------------------------------------------------------------------------------


def test_samples_parse_the_same_with_columns() -> None:
    assert len(EXTENDED_SAMPLES) >= 4
    took_columns = took_rows = 0
    for path in EXTENDED_SAMPLES:
        data = path.read_bytes()
        parsed = _assert_same(path.name, data)
        assert _plays(parsed), path.name
        if parsed.music_columns is None:
            took_rows += 1
            # Why the rows: two plays of one track ending in the same second (json only).
            keys = [(r["ts"], r["spotify_track_uri"]) for r in _track_records(_records(path))]
            assert len(set(keys)) < len(keys), path.name
        else:
            took_columns += 1
            _assert_numbered(parsed.music_columns)
    # Both ways are exercised by the real files.
    assert took_columns >= 1 and took_rows >= 1


def test_samples_as_endsong_parse_the_same_with_columns(tmp_path: Path) -> None:
    """The older format (a username in every record, named endsong_N.json) the same way."""
    for n, path in enumerate(EXTENDED_SAMPLES):
        records = [dict(r, username="listener") for r in _records(path)]
        name = f"endsong_{n}.json"
        parsed = _assert_same(name, json.dumps(records).encode())
        assert parsed.format == ENDSONG and parsed.username == "listener"


def test_samples_stage_as_rows() -> None:
    for path in EXTENDED_SAMPLES:
        for columns in (True, False):
            _assert_stages_as_rows(path.name, path.read_bytes(), columns=columns)


def test_columns_of_sample_rows_are_the_rows() -> None:
    for path in [*EXTENDED_SAMPLES, ACCOUNT_MUSIC_SAMPLE]:
        rows = _parse(path.name, path.read_bytes(), columns=False).music
        assert rows, path.name
        columns = MusicColumns.of(rows)
        assert len(columns) == len(rows)
        assert columns.rows() == rows
        _assert_numbered(columns)


def test_columns_of_no_rows() -> None:
    columns = MusicColumns.of([])
    assert len(columns) == 0 and columns.rows() == []
    assert columns.profiles == {} and columns.dimensions == {}


# -- generated exports --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_exports_parse_the_same_with_columns(generated: dict[int, list[Path]], seed: int) -> None:
    with_episodes = 0
    for path in generated[seed]:
        parsed = _assert_same(path.name, path.read_bytes())
        # Generated files have no two plays of a track in one second: the columns way throughout.
        assert parsed.music_columns is not None, path.name
        assert len(parsed.music_columns) == sum(1 for _ in _track_records(_records(path)))
        _assert_numbered(parsed.music_columns)
        with_episodes += bool(parsed.episodes)
    assert with_episodes >= 1  # podcast episodes mixed in with the music


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_exports_stage_as_rows(generated: dict[int, list[Path]], seed: int) -> None:
    for path in generated[seed]:
        for columns in (True, False):
            _assert_stages_as_rows(path.name, path.read_bytes(), columns=columns)


@pytest.mark.parametrize("seed", SEEDS)
def test_columns_of_generated_rows_are_the_rows(generated: dict[int, list[Path]], seed: int) -> None:
    for path in generated[seed]:
        rows = _parse(path.name, path.read_bytes(), columns=False).music
        assert MusicColumns.of(rows).rows() == rows
        _assert_numbered(MusicColumns.of(rows))


def _nothing(record: dict[str, Any]) -> dict[str, Any]:
    return dict(
        record,
        master_metadata_track_name=None,
        master_metadata_album_artist_name=None,
        master_metadata_album_album_name=None,
        spotify_track_uri=None,
        episode_name=None,
        episode_show_name=None,
        spotify_episode_uri=None,
        audiobook_title=None,
        audiobook_uri=None,
        audiobook_chapter_uri=None,
        audiobook_chapter_title=None,
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_local_files_episodes_and_chapters_mixed_in(
    generated: dict[int, list[Path]], seed: int, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    path = generated[seed][1]
    records = _records(path)
    originals = list(records)  # the templates: none of the records added below
    tracks_before = sum(1 for _ in _track_records(records))
    added = {"local": 0, "nothing": 0, "nameless local": 0, "chapter": 0}
    for _ in range(40):
        at = rng.randrange(len(records) + 1)
        template = originals[min(at, len(originals) - 1)]
        kind = rng.choice(list(added))
        added[kind] += 1
        if kind == "local":
            new = dict(
                template,
                spotify_track_uri=f"spotify:local:Some+Artist:Some+Album:Song+{at}:201",
                master_metadata_track_name=f"Song {at}",
            )
        elif kind == "nameless local":  # no URI, a track name: a local file too
            new = dict(_nothing(template), master_metadata_track_name=f"Local {at}")
        elif kind == "nothing":
            new = _nothing(template)
        else:
            new = dict(
                _nothing(template),
                audiobook_title="A Book",
                audiobook_uri="spotify:show:0123456789abcdefABCDEF",
                audiobook_chapter_uri=f"spotify:chapter:chapter{at:05d}",
                audiobook_chapter_title=f"Chapter {at}",
            )
        records.insert(at, new)
    name = path.name
    parsed = _assert_same(name, json.dumps(records, indent=2).encode())
    # Still the columns way: the other records go the careful way, the track plays stay columns.
    assert parsed.music_columns is not None
    assert len(parsed.music_columns) == tracks_before
    _assert_numbered(parsed.music_columns)
    assert dict(parsed.skipped) == {
        k: v
        for k, v in {
            SKIP_LOCAL: added["local"] + added["nameless local"],
            SKIP_NO_CONTENT: added["nothing"],
        }.items()
        if v
    }
    chapters = [e for e in parsed.episodes if e.kind == "audiobook"]
    assert len(chapters) == added["chapter"]
    data = json.dumps(records, indent=2).encode()
    for columns in (True, False):
        _assert_stages_as_rows(name, data, columns=columns)


# -- plays of one track ending in the same second ----------------------------------------------


def _with_twin(
    path: Path, ms_played: int, *, same_track: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The file's records with a play added that ends in the same second as a track play of it
    (of the same track, or of another track in the file)."""
    records = _records(path)
    tracks = list(_track_records(records))
    original = tracks[len(tracks) // 2]
    other = next(r for r in tracks if r["spotify_track_uri"] != original["spotify_track_uri"])
    twin = dict(original if same_track else other, ts=original["ts"], ms_played=ms_played)
    records.insert(records.index(original) + 1, twin)
    return records, original


def test_same_track_in_the_same_second_falls_back_to_rows_and_spreads(
    generated: dict[int, list[Path]],
) -> None:
    path = generated[7][2]
    records, original = _with_twin(path, ms_played=1, same_track=True)
    data = json.dumps(records, indent=2).encode()
    parsed = _assert_same(path.name, data)
    assert parsed.music_columns is None  # `_spread` works on rows
    track_id = original["spotify_track_uri"].removeprefix("spotify:track:")
    second = original["ts"].replace("T", " ").removesuffix("Z")
    twins = sorted(
        (r.played_at, r.ms_played)
        for r in parsed.music
        if r.track_id == track_id and r.played_at[:19] == second
    )
    # The shorter play keeps the second, the other ends 1 ms later (ordered by content).
    assert twins == [(f"{second}.000", 1), (f"{second}.001", original["ms_played"])]
    keys = [(r.played_at, r.track_id) for r in parsed.music]
    assert len(set(keys)) == len(keys) == len(list(_track_records(records)))
    for columns in (True, False):
        _assert_stages_as_rows(path.name, data, columns=columns)


def test_other_tracks_in_the_same_second_stay_columns(generated: dict[int, list[Path]]) -> None:
    path = generated[7][2]
    records, original = _with_twin(path, ms_played=1, same_track=False)
    data = json.dumps(records, indent=2).encode()
    parsed = _assert_same(path.name, data)
    assert parsed.music_columns is not None
    second = original["ts"].replace("T", " ").replace("Z", ".000")
    assert parsed.music_columns.played_at.count(second) == 2  # nothing to spread: both keep it
    _assert_numbered(parsed.music_columns)
    for columns in (True, False):
        _assert_stages_as_rows(path.name, data, columns=columns)


def test_a_play_repeated_exactly_is_spread_the_same_both_ways(generated: dict[int, list[Path]]) -> None:
    """The same record three times (a rapid re-play the export shows alike): 0, 1 and 2 ms later."""
    path = generated[11][0]
    records = _records(path)
    original = next(_track_records(records))
    at = records.index(original)
    records[at:at] = [dict(original), dict(original)]
    parsed = _assert_same(path.name, json.dumps(records).encode())
    assert parsed.music_columns is None
    second = original["ts"].replace("T", " ").removesuffix("Z")
    track_id = original["spotify_track_uri"].removeprefix("spotify:track:")
    ends = sorted(r.played_at for r in parsed.music if r.track_id == track_id and r.played_at[:19] == second)
    assert ends == [f"{second}.000", f"{second}.001", f"{second}.002"]


# -- names that come out alike ------------------------------------------------------------------


@pytest.mark.parametrize("missing", [None, ""])
def test_a_nameless_track_and_one_named_by_its_id_are_one_dimension(
    generated: dict[int, list[Path]], missing: str | None
) -> None:
    """A play without a track name takes the track id as its name: the same dimension fields as a
    play of the track whose name is its id, so one entry (`MusicColumns`: each value once)."""
    path = generated[1][0]
    records = _records(path)
    first, second = list(_track_records(records))[:2]
    track_id = first["spotify_track_uri"].removeprefix("spotify:track:")
    records[records.index(second)] = dict(first, ts=second["ts"], master_metadata_track_name=track_id)
    first["master_metadata_track_name"] = missing
    parsed = _assert_same(path.name, json.dumps(records).encode())
    assert parsed.music_columns is not None
    _assert_numbered(parsed.music_columns)


@pytest.mark.parametrize("field", ["master_metadata_track_name", "master_metadata_album_album_name"])
def test_a_track_its_plays_name_differently_has_a_dimension_for_each_naming(
    generated: dict[int, list[Path]], field: str
) -> None:
    """Plays are numbered by their track's URI when all plays of each track name it alike; when
    one play names a track differently, by the whole of its names."""
    path = generated[7][1]
    records = _records(path)
    tracks = list(_track_records(records))
    uris = [r["spotify_track_uri"] for r in tracks]
    repeated = next(r for i, r in enumerate(tracks) if r["spotify_track_uri"] in uris[:i])
    repeated[field] = "Renamed in one play"
    alike = _parse(path.name, path.read_bytes(), columns=True).music_columns
    parsed = _assert_same(path.name, json.dumps(records).encode())
    columns = parsed.music_columns
    assert columns is not None and alike is not None
    assert len(columns.dimensions) == len(alike.dimensions) + 1
    _assert_numbered(columns)
    _assert_numbered(alike)


# -- files the fast reading does not take --------------------------------------------------------


def test_account_data_and_kept_personal_fields_come_as_rows(generated: dict[int, list[Path]]) -> None:
    """Columns only come from the fast reading of extended history: other files keep their rows."""
    data = ACCOUNT_MUSIC_SAMPLE.read_bytes()
    parsed = _parse(ACCOUNT_MUSIC_SAMPLE.name, data, columns=True)
    assert parsed.music_columns is None and parsed.music
    assert parsed.music == _parse(ACCOUNT_MUSIC_SAMPLE.name, data, columns=False).music
    path = generated[7][0]
    kept = parse_file(path.name, path.read_bytes(), NOW, keep_personal=True, columns=True)
    assert isinstance(kept, ParsedFile) and kept.music_columns is None
    assert kept.music == parse_file(path.name, path.read_bytes(), NOW, keep_personal=True).music
    assert {row.ip_addr for row in kept.music} != {None}  # the fields only the rows way keeps


def test_a_worker_s_copy_text_is_every_play_in_copy_s_text_form(generated: dict[int, list[Path]]) -> None:
    """PostgreSQL: the COPY text a worker makes of the columns (`staging.copy_text`) is each
    play, in file order, in COPY's text form, written out here field by field."""

    def text(value: Any) -> str:
        if value is None:
            return "\\N"
        if isinstance(value, bool):
            return "t" if value else "f"
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

    def instant(ms: int | None) -> str:
        if ms is None:
            return "\\N"
        return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") + f".{ms % 1000:03d}"

    now = datetime.now(UTC)
    user = "u\tser"
    for paths in generated.values():
        for path in paths[:3]:
            data = path.read_bytes()
            columns = parse_file(path.name, data, now, columns=True)
            rows = parse_file(path.name, data, now)
            assert isinstance(columns, ParsedFile) and isinstance(rows, ParsedFile)
            assert columns.music_columns is not None and rows.music
            expected = "".join(
                "\t".join(
                    [
                        r.played_at,
                        text(r.track_id),
                        str(r.ms_played),
                        instant(r.offline_ms),
                        instant(r.reported_ms),
                        *(text(getattr(r, f)) for f in staging.PLAY_FIELDS),
                        text(user),
                        "export",
                        "export",
                    ]
                )
                + "\n"
                for r in rows.music
            )
            assert staging.copy_text(columns.music_columns, user) == expected


def test_the_staging_image_names_the_columns_the_store_reads() -> None:
    # The store inserts from a worker's image by the names of its own stages and play columns.
    from brapped.store import staged_plays

    assert staging.PLAY_FIELDS == staged_plays.PLAY_FIELDS
    assert staging.MUSIC_STAGE == staged_plays.MUSIC_STAGE
    assert staging.MUSIC_PROFILE_STAGE == staged_plays.MUSIC_PROFILE_STAGE
