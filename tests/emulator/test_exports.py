"""Spotify's "Download your data" as the emulator writes it, checked against the real samples."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from brapped.emulator import Emulator
from brapped.emulator.exports import build_files, write_export
from tests.conftest import SAMPLES

MONTH = (datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))
EXT_SAMPLE = SAMPLES / "Efrrowini__spotify-music-analysis__Streaming_History_Audio_2023.json"
VIDEO_SAMPLE = SAMPLES / "Efrrowini__spotify-music-analysis__Streaming_History_Video_2023.json"
MUSIC_SAMPLE = SAMPLES / "hobbies-w-erin__Spotify-Account-Data__StreamingHistory_music_0.json"
PODCAST_SAMPLE = SAMPLES / "hobbies-w-erin__Spotify-Account-Data__StreamingHistory_podcast_0.json"
BOOK_SAMPLE = SAMPLES / "hobbies-w-erin__Spotify-Account-Data__StreamingHistory_audiobook_0.json"


@pytest.fixture(scope="module")
def emu() -> Emulator:
    return Emulator(seed=42)


@pytest.fixture(scope="module")
def export(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    path = write_export(emu, tmp_path_factory.mktemp("export"), *MONTH)
    assert path.name == "my_spotify_data.zip"
    return zipfile.ZipFile(path)


def _json(archive: zipfile.ZipFile, name: str) -> list[dict]:  # type: ignore[type-arg]
    data: list[dict] = json.loads(archive.read(name))  # type: ignore[type-arg]
    return data


def test_zip_layout(export: zipfile.ZipFile) -> None:
    names = export.namelist()
    assert "Spotify Extended Streaming History/Streaming_History_Audio_2025_0.json" in names
    assert "Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf" in names
    assert any(
        re.fullmatch(r"Spotify Extended Streaming History/Streaming_History_Video_2025\.json", n)
        for n in names
    )
    assert "MyData/endsong_0.json" in names
    for name in (
        "StreamingHistory_music_0",
        "StreamingHistory_podcast_0",
        "Userdata",
        "Identity",
        "YourLibrary",
    ):
        assert f"Spotify Account Data/{name}.json" in names
    assert export.read("Spotify Account Data/ReadMeFirst_YourAccountData.pdf").startswith(b"%PDF-")


def test_extended_records_are_exactly_like_the_sample(emu: Emulator, export: zipfile.ZipFile) -> None:
    sample_keys = list(json.loads(EXT_SAMPLE.read_text())[0])
    assert len(sample_keys) == 23
    audio = _json(export, "Spotify Extended Streaming History/Streaming_History_Audio_2025_0.json")
    video_name = "Spotify Extended Streaming History/Streaming_History_Video_2025.json"
    video = _json(export, video_name)
    assert list(json.loads(VIDEO_SAMPLE.read_text())[0]) == sample_keys
    for record in audio + video:
        assert list(record) == sample_keys
    truth = emu.ground_truth(*MONTH)
    assert len(audio) + len(video) == len(truth)
    assert sum(r["ms_played"] for r in audio + video) == sum(p.ms_played for p in truth)
    # ts is when the play was reported: as it ended, or an offline session's plays once back online.
    # (an offline session's plays share one ts: its plays of one track differ by their start).
    by_uri = {
        ((p.reported_at or p.played_at).replace(microsecond=0), p.uri, int(p.started_at.timestamp())): p
        for p in truth
    }
    for record in audio:
        uri = record["spotify_track_uri"] or record["spotify_episode_uri"] or record["audiobook_chapter_uri"]
        when = datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        play = by_uri[(when, uri, record["offline_timestamp"])]  # truncated to the second
        assert record["ms_played"] == play.ms_played
        assert record["offline"] == play.offline
    episodes = [r for r in audio if r["spotify_episode_uri"]]
    assert episodes and all(r["master_metadata_track_name"] is None for r in episodes)
    chapters = [r for r in audio if r["audiobook_chapter_uri"]]
    assert all(r["audiobook_uri"].startswith("spotify:audiobook:") for r in chapters)


def test_file_styles_reproduce_the_real_files_byte_for_byte() -> None:
    from brapped.emulator.exports import ACCOUNT_STYLE, EXTENDED_STYLE

    extended = EXT_SAMPLE.read_text(encoding="utf-8")
    assert EXTENDED_STYLE.join([EXTENDED_STYLE.record(r) for r in json.loads(extended)]).decode() == extended
    music = MUSIC_SAMPLE.read_text(encoding="utf-8")
    assert ACCOUNT_STYLE.whole(json.loads(music)).decode() == music


def test_endsong_records(emu: Emulator, export: zipfile.ZipFile) -> None:
    records = _json(export, "MyData/endsong_0.json")
    ext_keys = list(json.loads(EXT_SAMPLE.read_text())[0])
    expected = [k for k in ext_keys if not k.startswith("audiobook_")]
    expected[expected.index("ip_addr")] = "ip_addr_decrypted"
    expected.insert(1, "username")
    expected.insert(expected.index("ip_addr_decrypted") + 1, "user_agent_decrypted")
    truth = [p for p in emu.ground_truth(*MONTH) if p.kind != "chapter"]
    assert len(records) == len(truth)
    for record, play in zip(records, sorted(truth, key=lambda p: p.played_at), strict=True):
        assert list(record) == expected
        assert record["username"] == emu.listener.username
        assert record["offline_timestamp"] == int(play.started_at.timestamp() * 1000)  # milliseconds
        assert record["skipped"] in (True, None)


def test_account_data(emu: Emulator, export: zipfile.ZipFile) -> None:
    music = _json(export, "Spotify Account Data/StreamingHistory_music_0.json")
    podcast = _json(export, "Spotify Account Data/StreamingHistory_podcast_0.json")
    assert list(music[0]) == list(json.loads(MUSIC_SAMPLE.read_text())[0])
    assert list(podcast[0]) == list(json.loads(PODCAST_SAMPLE.read_text())[0])
    public = [p for p in emu.ground_truth(*MONTH) if not p.incognito]
    tracks = [p for p in public if p.kind == "track"]
    assert len(music) == len(tracks)
    assert [m["endTime"] for m in music] == [p.played_at.strftime("%Y-%m-%d %H:%M") for p in tracks]
    assert [m["msPlayed"] for m in music] == [p.ms_played for p in tracks]
    if any(p.kind == "chapter" for p in public):
        book = _json(export, "Spotify Account Data/StreamingHistory_audiobook_0.json")
        assert list(book[0]) == list(json.loads(BOOK_SAMPLE.read_text())[0])


def test_account_data_splits_at_10000_records(emu: Emulator) -> None:
    files = build_files(emu, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 8, 1, tzinfo=UTC), ("account",))
    music = sorted(n for n in files if "StreamingHistory_music_" in n)
    sizes = [len(json.loads(files[n])) for n in music]
    assert len(sizes) >= 2 and all(s == 10_000 for s in sizes[:-1]) and 0 < sizes[-1] <= 10_000


def test_extended_splits_by_size_and_year(emu: Emulator) -> None:
    files = build_files(
        emu,
        datetime(2024, 11, 1, tzinfo=UTC),
        datetime(2025, 2, 1, tzinfo=UTC),
        ("extended",),
        max_file_bytes=2_000_000,
    )
    audio = [n.rsplit("/", 1)[1] for n in files if "Streaming_History_Audio_" in n]
    assert audio == sorted(audio, key=lambda n: int(n.rsplit("_", 1)[1].split(".")[0]))
    assert [int(n.rsplit("_", 1)[1].split(".")[0]) for n in audio] == list(range(len(audio)))
    assert any("_2024_" in n for n in audio) and any("_2025_" in n for n in audio)
    for name in files:
        if "Streaming_History_Audio_" in name:
            assert len(files[name]) <= 2_000_000
            years = {r["ts"][:4] for r in json.loads(files[name])}
            label = name.rsplit("Audio_", 1)[1].rsplit("_", 1)[0]
            assert label == (min(years) if len(years) == 1 else f"{min(years)}-{max(years)}")


def test_unzipped_export_and_bad_format(emu: Emulator, tmp_path: Path) -> None:
    out = write_export(emu, tmp_path, *MONTH, formats=("account",), zip=False)
    assert out == tmp_path
    assert (tmp_path / "Spotify Account Data" / "StreamingHistory_music_0.json").is_file()
    assert not (tmp_path / "Spotify Extended Streaming History").exists()
    with pytest.raises(ValueError, match="unknown export format"):
        write_export(emu, tmp_path, *MONTH, formats=("csv",))


def test_legacy_account_data_mixes_music_and_podcasts(emu: Emulator) -> None:
    files = build_files(emu, *MONTH, ("account_legacy",))
    assert list(files) == ["MyData/StreamingHistory0.json"]
    records = json.loads(files["MyData/StreamingHistory0.json"])
    public = [p for p in emu.ground_truth(*MONTH) if not p.incognito and p.kind != "chapter"]
    assert len(records) == len(public)
    assert {tuple(r) for r in records} == {("endTime", "artistName", "trackName", "msPlayed")}
    shows = {s.name for s in emu.catalogue.shows.values()}
    assert any(r["artistName"] in shows for r in records)


def test_old_and_video_records_carry_the_real_quirks(emu: Emulator) -> None:
    files = build_files(
        emu, datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 3, 1, tzinfo=UTC), ("extended",)
    )
    audio = [r for n, c in files.items() if "Audio" in n for r in json.loads(c)]
    assert audio and all(r["offline_timestamp"] is None for r in audio)
    assert all(r["platform"] not in ("android", "ios", "windows", "osx", "web_player") for r in audio)
    video = [r for n, c in files.items() if "Video" in n for r in json.loads(c)]
    assert video and all(
        (r["reason_start"], r["offline"], r["offline_timestamp"]) == ("unknown", None, None) for r in video
    )
