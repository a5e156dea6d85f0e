"""Export histories of different shapes for the import bench: a loader tuned to one generator's
output is not measured until it meets others.

Every shape has the same number of plays and the same time line (bench.generate's sessions, skips,
platforms); shapes differ in what a loader is sensitive to: how many distinct tracks and artists the
plays name, how plays spread over them, how many files hold them, and what the file names say.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.generate import BASE62, EXPORT_FILE_BYTES, Summary, generate_exports

Rewrite = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Shape:
    name: str
    description: str
    max_bytes: int = EXPORT_FILE_BYTES
    years_in_names: bool = True
    rewrite: Callable[[int], Rewrite | None] = lambda seed: None


def _track_id(namespace: str, k: int) -> str:
    rng = random.Random(f"{namespace}:{k}")
    return "".join(rng.choices(BASE62, k=22))


def _replace_track(record: dict[str, Any], namespace: str, k: int, artist: int, album: int) -> None:
    record["master_metadata_track_name"] = f"{namespace.title()} Track {k}"
    record["master_metadata_album_artist_name"] = f"{namespace.title()} Artist {artist}"
    record["master_metadata_album_album_name"] = f"{namespace.title()} Album {album}"
    record["spotify_track_uri"] = f"spotify:track:{_track_id(namespace, k)}"


def _flat(seed: int) -> Rewrite:
    """A third of the plays spread evenly over 30,000 more tracks (3 a record, 10 an artist)."""
    counter = itertools.count()
    rng = random.Random(f"flat:{seed}")

    def rewrite(record: dict[str, Any]) -> None:
        if record["spotify_track_uri"] is None or next(counter) % 3:
            return
        k = rng.randrange(30_000)
        _replace_track(record, "flat", k, k // 10, k // 3)

    return rewrite


def _zipf(seed: int) -> Rewrite:
    """Every track play drawn from a pure Zipf law (s = 1) over 200,000 tracks: a long tail of
    tracks played once, next to a head played thousands of times."""
    size = 200_000
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(size)))
    rng = random.Random(f"zipf:{seed}")

    def rewrite(record: dict[str, Any]) -> None:
        if record["spotify_track_uri"] is None:
            return
        k = bisect.bisect_left(cumulative, rng.random() * cumulative[-1])
        _replace_track(record, "zipf", k, k % 25_000, k // 8)

    return rewrite


SHAPES: dict[str, Shape] = {
    shape.name: shape
    for shape in (
        Shape("default", "bench.generate's catalogue (Zipf-like artists, ~12 MB files named with years)"),
        Shape(
            "flat",
            "a flatter catalogue: a third of the plays spread evenly over 30,000 more tracks; "
            "no years in the file names (the hardening issue's probe)",
            years_in_names=False,
            rewrite=_flat,
        ),
        Shape("zipf", "pure Zipf (s = 1) over 200,000 tracks: most tracks played once", rewrite=_zipf),
        Shape("few files", "the default history in few long files (~30 MB each)", max_bytes=30 * 1024 * 1024),
        Shape("many files", "the default history in many small files (~1 MB each)", max_bytes=1024 * 1024),
        Shape("no years", "the default history, file names without years", years_in_names=False),
    )
}


def write_shape(shape: Shape, directory: Path, plays: int, tracks: int, seed: int = 1) -> Summary:
    """Write `shape`'s export of `plays` plays into `directory`."""
    return generate_exports(
        directory,
        plays=plays,
        seed=seed,
        tracks=tracks,
        max_bytes=shape.max_bytes,
        years_in_names=shape.years_in_names,
        rewrite=shape.rewrite(seed),
    )
