"""import_paths around the rows: user choice, estimates, gaps, endsong, run records, the CLI summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from brapped.cli import cli
from brapped.clock import SystemClock
from brapped.emulator import EmulatedClock, Emulator, write_export
from brapped.errors import BrappedError
from brapped.pipeline.importing import import_paths
from brapped.store import Store
from brapped.store.calibration import in_use
from brapped.store.runs import last_run
from brapped.store.tables import accounts, artists, gaps, plays, track_artists, tracks

RECORD: dict[str, Any] = {
    "ts": "2025-05-01T10:00:00Z",
    "platform": "ios",
    "ms_played": 100_000,
    "conn_country": "DE",
    "ip_addr": "192.0.2.1",
    "master_metadata_track_name": "Song",
    "master_metadata_album_artist_name": "Band",
    "master_metadata_album_album_name": "Album",
    "spotify_track_uri": "spotify:track:0000000000000000000001",
    "episode_name": None,
    "episode_show_name": None,
    "spotify_episode_uri": None,
    "reason_start": "trackdone",
    "reason_end": "trackdone",
    "shuffle": False,
    "skipped": False,
    "offline": False,
    "offline_timestamp": 1746093500,
    "incognito_mode": False,
}


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_user_is_the_single_synced_account(store: Store, tmp_path: Path) -> None:
    with store.begin() as conn:
        conn.execute(insert(accounts).values(id="synced-user"))
    result = import_paths(
        store, [_write(tmp_path / "Streaming_History_Audio_2025.json", [RECORD])], SystemClock()
    )
    assert (result.user_id, result.user_source, result.warnings) == ("synced-user", "account", [])
    with store.connect() as conn:
        assert conn.execute(select(plays.c.user_id)).scalar() == "synced-user"


def test_two_accounts_without_user_is_an_error_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    with store.begin() as conn:
        conn.execute(insert(accounts), [{"id": "a"}, {"id": "b"}])
    path = _write(tmp_path / "Streaming_History_Audio_2025.json", [RECORD])
    with pytest.raises(BrappedError, match=r"2 accounts \(a, b\): choose one with --user"):
        import_paths(store, [path], SystemClock())
    with store.connect() as conn:
        assert conn.execute(select(plays.c.id)).first() is None
        assert last_run(conn, "import") is None


def test_user_from_endsong_username_else_me(store: Store, tmp_path: Path) -> None:
    endsong = dict(RECORD, username="old-account", ip_addr_decrypted="192.0.2.9", user_agent_decrypted="x")
    del endsong["ip_addr"]
    result = import_paths(store, [_write(tmp_path / "endsong_0.json", [endsong])], SystemClock())
    assert (result.user_id, result.user_source, result.imported[0].format) == (
        "old-account",
        "username",
        "endsong",
    )
    other = _write(tmp_path / "Streaming_History_Audio_2024.json", [dict(RECORD, ts="2024-01-01T00:00:00Z")])
    result = import_paths(store, [other], SystemClock())
    assert (result.user_id, result.user_source) == ("me", "default")
    assert result.warnings and "'me'" in result.warnings[0]


def test_endsong_offline_timestamp_in_milliseconds(store: Store, tmp_path: Path) -> None:
    endsong = dict(RECORD, username="u", offline_timestamp=1746093500123)
    import_paths(store, [_write(tmp_path / "endsong_0.json", [endsong])], SystemClock(), user_id="u")
    with store.connect() as conn:
        offline_at = conn.execute(select(plays.c.offline_at)).scalar()
    assert offline_at == datetime(2025, 5, 1, 9, 58, 20, 123000, tzinfo=UTC)


def test_api_estimates_are_recomputed_around_imported_plays(store: Store, tmp_path: Path) -> None:
    api_end = datetime(2025, 5, 1, 10, 3, 0, tzinfo=UTC)
    with store.begin() as conn:
        conn.execute(
            insert(tracks).values(id="apitrack", name="Other", duration_ms=400_000, is_resolved=True)
        )
        # Alone, the API play's estimate is its whole duration.
        conn.execute(
            insert(plays).values(
                user_id="u",
                played_at=api_end,
                track_id="apitrack",
                source="api",
                ms_played=400_000,
                ms_played_source="estimate",
            )
        )
    import_paths(
        store, [_write(tmp_path / "Streaming_History_Audio_2025.json", [RECORD])], SystemClock(), user_id="u"
    )
    with store.connect() as conn:
        estimate = conn.execute(select(plays.c.ms_played).where(plays.c.track_id == "apitrack")).scalar()
        follows = in_use(conn, "u").follows
    # The export play ended at 10:00:00, three minutes before: the API play lasted at most that,
    # times the listener's calibrated share of gaps shorter than the track (docs/accuracy.md).
    assert 0 < follows < 1
    assert estimate == round(180_000 * follows)


def test_a_gap_inside_the_imported_period_is_filled(store: Store, tmp_path: Path) -> None:
    start = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
    with store.begin() as conn:
        conn.execute(
            insert(gaps),
            [
                {
                    "user_id": "u",
                    "gap_from": start,
                    "gap_to": start + timedelta(hours=1),
                    "detected_at": start,
                },
                {
                    "user_id": "u",
                    "gap_from": start,
                    "gap_to": start + timedelta(days=9),
                    "detected_at": start,
                },
            ],
        )
    records = [dict(RECORD, ts="2025-05-01T07:00:00Z"), dict(RECORD, ts="2025-05-01T12:00:00Z")]
    result = import_paths(
        store, [_write(tmp_path / "Streaming_History_Audio_2025.json", records)], SystemClock(), user_id="u"
    )
    assert result.gaps_filled == 1
    with store.connect() as conn:
        filled = [
            r.filled_at is not None for r in conn.execute(select(gaps.c.filled_at).order_by(gaps.c.gap_to))
        ]
    assert filled == [True, False]  # the nine-day gap reaches beyond the file


def test_run_record_counts_the_import(store: Store, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "Streaming_History_Audio_2025.json", [RECORD, dict(RECORD, spotify_track_uri=None)]
    )
    import_paths(store, [path], SystemClock(), user_id="u")
    with store.connect() as conn:
        run = last_run(conn, "import")
    assert run is not None and run["outcome"] == "ok"
    counts = json.loads(run["counts"])
    assert (counts["new"], counts["records"], counts["skipped"]) == (
        1,
        2,
        {"local file or track without a Spotify URI": 1},
    )


def test_endsong_and_extended_of_the_same_plays_count_once(store: Store, tmp_path: Path) -> None:
    start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    end = start + timedelta(days=4)
    emu = Emulator(seed=3, clock=EmulatedClock(end))
    export = write_export(emu, tmp_path / "both", start, end, formats=("extended", "endsong"), zip=True)
    result = import_paths(store, [export], emu.clock, user_id="u")
    assert result.ok, [f.message for f in result.failed]
    truth = emu.ground_truth(start, end)
    with store.connect() as conn:
        stored = conn.execute(select(plays.c.played_at, plays.c.ms_played)).all()
    assert len(stored) == len([p for p in truth if p.kind == "track"])
    formats = {f.format for f in result.imported}
    assert formats == {"extended", "endsong"}
    # Both formats hold the same plays (endsong leaves audiobook chapters out): the second file
    # read finds every play of its own already stored.
    totals = result.totals()
    assert totals["new"] == len(truth)
    assert totals["known"] == len([p for p in truth if p.kind != "chapter"])


def test_cli_table_summary(runner: CliRunner, tmp_path: Path) -> None:
    tmp_path = tmp_path / "download"
    tmp_path.mkdir()
    path = _write(
        tmp_path / "Streaming_History_Audio_2025.json", [RECORD, dict(RECORD, spotify_track_uri=None)]
    )
    (tmp_path / "Userdata.json").write_text('{"username": "x"}', encoding="utf-8")
    result = runner.invoke(cli, ["import", str(tmp_path), "--user", "u"])
    assert result.exit_code == 0, result.output
    assert "files read: 1   failed: 0   not history: 1" in result.stdout
    assert "plays new: 1   already known: 0" in result.stdout
    assert "1  local file or track without a Spotify URI" in result.stdout
    assert f"{tmp_path / 'Userdata.json'} (not listening history)" in result.stdout
    again = runner.invoke(cli, ["import", str(path), "--user", "u"])
    assert "plays new: 0   already known: 1" in again.stdout


def test_files_are_taken_kind_by_kind_in_the_order_of_their_numbers(tmp_path: Path) -> None:
    from brapped.imports import Source, iter_inputs
    from brapped.pipeline import import_plan

    # Spotify numbers the files of an export in time order; their names do not sort that way.
    names = [
        "StreamingHistory_music_1.json",
        "Streaming_History_Audio_2017-2018_2.json",
        "Streaming_History_Audio_2021_10.json",
        "endsong_1.json",
        "StreamingHistory_music_0.json",
        "Streaming_History_Audio_2017_0.json",
        "Streaming_History_Audio_2017_1.json",
        "Streaming_History_Audio_2020_9.json",
        "Streaming_History_Audio_2017_1b.json",
        "endsong_0.json",
        "StreamingHistory_podcast_0.json",
        "Streaming_History_Video_2019-2024.json",
        "Streaming_History_Audio_2024.json",
        "Streaming_History_Audio_2017_1 (1).json",
    ]
    for name in names:
        (tmp_path / name).write_text("[]")
    ordered = [
        Path(i.name).name for i in import_plan.ordered(iter_inputs([tmp_path])) if isinstance(i, Source)
    ]
    assert ordered == [
        "endsong_0.json",
        "endsong_1.json",
        "Streaming_History_Audio_2017_0.json",
        "Streaming_History_Audio_2017_1.json",
        "Streaming_History_Audio_2017_1 (1).json",
        "Streaming_History_Audio_2017_1b.json",
        "Streaming_History_Audio_2017-2018_2.json",
        "Streaming_History_Audio_2020_9.json",
        "Streaming_History_Audio_2021_10.json",
        "Streaming_History_Audio_2024.json",  # unnumbered: by its year
        "Streaming_History_Video_2019-2024.json",
        # Account data after extended history (docs/merge.md).
        "StreamingHistory_music_0.json",
        "StreamingHistory_music_1.json",
        "StreamingHistory_podcast_0.json",
    ]


def test_a_track_renamed_between_files_counts_its_account_play_once(store: Store, tmp_path: Path) -> None:
    """Two extended files name one track differently ("Song", then its remaster); account data
    names the second play as the second file does, while the track keeps the first file's name.
    One import of all three stores two plays, as each order of two imports does."""
    folder = tmp_path / "download"
    folder.mkdir()
    second = dict(
        RECORD,
        ts="2025-05-02T10:00:00Z",
        ms_played=180_000,
        master_metadata_track_name="Song - 2011 Remaster",
        master_metadata_album_album_name="Album (Deluxe)",
        offline_timestamp=1746179820,
    )
    _write(folder / "Streaming_History_Audio_2025_0.json", [RECORD])
    _write(folder / "Streaming_History_Audio_2025_1.json", [second])
    account = {"endTime": "2025-05-02 10:00", "artistName": "Band", "trackName": "Song - 2011 Remaster"}
    _write(folder / "StreamingHistory_music_0.json", [dict(account, msPlayed=180_000)])
    result = import_paths(store, [folder], SystemClock(), user_id="u")
    totals = result.totals()
    assert result.ok and totals["new"] == 2 and totals["skipped"] == {"covered by extended history": 1}
    with store.connect() as conn:
        stored = conn.execute(select(plays.c.played_at, plays.c.track_id).order_by(plays.c.played_at)).all()
    assert [(p.isoformat(), t) for p, t in stored] == [
        ("2025-05-01T10:00:00+00:00", "0000000000000000000001"),
        ("2025-05-02T10:00:00+00:00", "0000000000000000000001"),
    ]


@pytest.mark.parametrize("endsong_first", [True, False])
def test_an_offline_video_play_in_endsong_and_the_video_file_counts_once(
    store: Store, tmp_path: Path, endsong_first: bool
) -> None:
    """endsong marks an offline video play offline (stored at its real end, to the millisecond);
    the Video file does not (its end to the second). Either file first, one play: the zip of an
    export reads MyData's endsong first."""
    start, end = datetime(2026, 11, 21, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC)
    emu = Emulator(seed=7, clock=EmulatedClock(datetime(2026, 12, 7, 9, tzinfo=UTC)))
    folder = write_export(emu, tmp_path / "export", start, end, formats=("extended", "endsong"), zip=False)
    video = next(folder.rglob("Streaming_History_Video_*.json"))
    offline = {
        r["spotify_track_uri"]
        for r in json.loads(next(folder.rglob("endsong_*.json")).read_text())
        if r["offline"]
    }
    assert offline & {r["spotify_track_uri"] for r in json.loads(video.read_text())}  # the case is there
    order = [folder / "MyData", folder / "Spotify Extended Streaming History"]
    for part in order if endsong_first else order[::-1]:
        assert import_paths(store, [part], emu.clock, user_id="u").ok
    truth = emu.ground_truth(start, end)
    with store.connect() as conn:
        stored = conn.execute(select(plays.c.id)).all()
    assert len(stored) == len([p for p in truth if p.kind == "track"])


def test_a_path_that_does_not_exist_is_refused_before_anything_starts(
    runner: CliRunner, tmp_path: Path, store: Store
) -> None:
    """A mistyped path: one error naming it, nothing on standard output, no run recorded."""
    missing = tmp_path / "my_spotify_data.zip"
    result = runner.invoke(cli, ["--db", store.url, "import", str(missing), "--user", "u"])
    assert result.exit_code == 2
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and str(missing) in errors[0] and "does not exist" in errors[0]
    assert "warning" not in result.stderr
    with store.connect() as conn:
        assert last_run(conn, "import") is None


def test_tracks_known_by_name_go_once_extended_history_replaced_their_plays(
    store: Store, tmp_path: Path
) -> None:
    """Account data first (tracks by name, credited to the track's artist), then extended history
    of two of its three plays (which names the album's artist): the two tracks by name have no play
    left and go, with their credits and the artist by name nothing credits any more; the third
    track stays, and so does its artist."""
    plays_of = [
        dict(RECORD, ts=f"2025-05-0{day}T10:00:00Z", master_metadata_track_name=f"Song {day}")
        for day in (1, 2, 3)
    ]
    for record, number in zip(plays_of, "123", strict=True):
        record["spotify_track_uri"] = f"spotify:track:000000000000000000000{number}"
    account = [
        {
            "endTime": f"2025-05-0{day} 10:00",
            "artistName": singer,
            "trackName": f"Song {day}",
            "msPlayed": 100_000,
        }
        for day, singer in ((1, "Singer"), (2, "Singer"), (3, "Other Singer"))
    ]
    first = import_paths(
        store, [_write(tmp_path / "StreamingHistory_music_0.json", account)], SystemClock(), user_id="u"
    )
    assert first.ok and first.totals()["new"] == 3

    def by_name(table: Any, column: str) -> list[str]:
        with store.connect() as conn:
            return sorted(i for i in conn.execute(select(table.c[column])).scalars() if i.startswith("name:"))

    assert len(by_name(tracks, "id")) == 3 and len(by_name(track_artists, "track_id")) == 3
    with store.connect() as conn:
        names = dict(conn.execute(select(artists.c.name, artists.c.id)).all())
    assert {"Singer", "Other Singer"} <= set(names)
    extended = _write(tmp_path / "Streaming_History_Audio_2025.json", plays_of[:2])
    second = import_paths(store, [extended], SystemClock(), user_id="u")
    assert second.ok and second.totals()["replaced"] == 2
    with store.connect() as conn:
        still = (
            conn.execute(select(plays.c.track_id).where(plays.c.track_id.startswith("name:"))).scalars().all()
        )
        artist_names = set(conn.execute(select(artists.c.name)).scalars())
    assert len(still) == 1
    assert by_name(tracks, "id") == still and by_name(track_artists, "track_id") == still
    assert "Singer" not in artist_names and {"Other Singer", "Band"} <= artist_names


@pytest.mark.parametrize("detailed", [True, False])
def test_a_merged_play_keeps_its_export_fields_when_it_has_some(
    store: Store, tmp_path: Path, detailed: bool
) -> None:
    """A play synced and merged with an extended record, read again from another file that says
    otherwise (endsong and the Video file do): it keeps what it has. A play merged from account
    data has no such fields: the extended record gives them."""
    ended = datetime(2025, 5, 1, 10, 0, 0, 400_000, tzinfo=UTC)
    with store.begin() as conn:
        conn.execute(insert(tracks).values(id="0000000000000000000001", name="Song"))
        conn.execute(
            insert(plays).values(
                user_id="u",
                played_at=ended,
                track_id="0000000000000000000001",
                source="both",
                ms_played=100_000,
                ms_played_source="export",
                platform="ios" if detailed else None,
                reason_end="trackdone" if detailed else None,
            )
        )
    again = dict(RECORD, platform="android", reason_end="endplay")
    result = import_paths(
        store, [_write(tmp_path / "Streaming_History_Audio_2025.json", [again])], SystemClock(), user_id="u"
    )
    assert result.ok and result.totals()["known"] == 1 and result.totals()["new"] == 0
    with store.connect() as conn:
        stored = conn.execute(select(plays.c.platform, plays.c.reason_end)).one()
    assert tuple(stored) == (("ios", "trackdone") if detailed else ("android", "endplay"))
