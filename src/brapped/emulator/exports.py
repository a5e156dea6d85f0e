"""Spotify's "Download your data" for the simulated listener, in each real file format.

- extended (current): `Spotify Extended Streaming History/Streaming_History_Audio_YYYY[-YYYY]_N.json`
  (23 keys, as the real samples), `Streaming_History_Video_YYYY[-YYYY].json`, a ReadMeFirst PDF.
- endsong (older extended): `MyData/endsong_N.json`, 21 keys: `username`, `ip_addr_decrypted`,
  `user_agent_decrypted` instead of `ip_addr`, no audiobook keys (audiobook plays are left out),
  `offline_timestamp` in milliseconds, long platform strings, `skipped` null unless skipped.
- account_legacy (older account data, not written unless asked): `MyData/StreamingHistoryN.json`,
  music and podcasts in one list with the same four keys.
- account: `Spotify Account Data/StreamingHistory_music_N.json` (10,000 records a file, `endTime`
  "YYYY-MM-DD HH:MM" UTC), `StreamingHistory_podcast_N.json`, `StreamingHistory_audiobook_N.json`
  and files importers must skip (`Userdata.json`, `Identity.json`, `YourLibrary.json`, ...).
  Private-session plays are not in account data.

`ts` and `endTime` are the play's END time, truncated to whole seconds (minutes for `endTime`);
`ms_played` is the true time played. Extended files are cut at about 12 MB (`max_file_bytes`) and
at a year boundary once a file holds a quarter of that, so most files cover one year.
"""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brapped.emulator.listener import TruePlay

if TYPE_CHECKING:
    from brapped.emulator.service import Emulator

EXTENDED_DIR = "Spotify Extended Streaming History"
ACCOUNT_DIR = "Spotify Account Data"
ENDSONG_DIR = "MyData"
ZIP_NAME = "my_spotify_data.zip"
EXTENDED_MAX_BYTES = 12_000_000
ACCOUNT_RECORDS_PER_FILE = 10_000
FORMATS = ("extended", "endsong", "account", "account_legacy")
DEFAULT_FORMATS = ("extended", "endsong", "account")

_LONG_PLATFORM = {
    "android": "Android OS 12 API 31 (Google, Pixel 6)",
    "ios": "iOS 16.1.1 (iPhone14,5)",
    "windows": "Windows 10 (10.0.19044; x64; AppX)",
    "osx": "OS X 12.6.1 [x86 8]",
    "web_player": "WebPlayer (websocket RFC6455)",
}
_WEB_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0 Safari/537.36"
# A tiny but well-formed PDF: importers must recognise it as not-history and skip it.
_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def _ts(play: TruePlay) -> str:
    """When the play was reported, cut to the second: as it ended, or an offline play's reporting."""
    return (play.reported_at or play.played_at).strftime("%Y-%m-%dT%H:%M:%SZ")


def _start_s(play: TruePlay) -> int:
    return int(play.started_at.timestamp())


class _Names:
    """Catalogue names for a play, as the export files spell them."""

    def __init__(self, emu: Emulator) -> None:
        self.cat = emu.catalogue

    def track(self, play: TruePlay) -> tuple[str, str, str]:
        track = self.cat.tracks[play.id]
        artist = self.cat.artists[track.artist_ids[0]].name
        return track.name, artist, self.cat.albums[track.album_id].name

    def episode(self, play: TruePlay) -> tuple[str, str]:
        episode = self.cat.episodes[play.id]
        return episode.name, self.cat.shows[episode.show_id].name

    def chapter(self, play: TruePlay) -> tuple[str, str, str, str]:
        chapter = self.cat.chapters[play.id]
        book = self.cat.audiobooks[chapter.audiobook_id]
        return chapter.title, book.title, f"spotify:audiobook:{book.id}", book.author


# Records of plays before this date carry the old long platform strings and no offline_timestamp,
# as in the real files (a 2022-05 record: "Android OS 11 API 30 (Xiaomi, 21061119BI)", null).
OLD_CLIENTS_UNTIL = datetime(2022, 6, 1, tzinfo=UTC)


def extended_record(play: TruePlay, names: _Names) -> dict[str, Any]:
    """One record of Streaming_History_Audio/Video_*.json (23 keys, in Spotify's order).

    Video records have `reason_start` "unknown" and null `offline` / `offline_timestamp`, as the
    real Video file does.
    """
    old = play.played_at < OLD_CLIENTS_UNTIL
    track = names.track(play) if play.kind == "track" else (None, None, None)
    episode = names.episode(play) if play.kind == "episode" else (None, None)
    chapter = names.chapter(play) if play.kind == "chapter" else (None, None, None, None)
    return {
        "ts": _ts(play),
        "platform": _LONG_PLATFORM.get(play.platform, play.platform) if old else play.platform,
        "ms_played": play.ms_played,
        "conn_country": play.conn_country,
        "ip_addr": play.ip_addr,
        "master_metadata_track_name": track[0],
        "master_metadata_album_artist_name": track[1],
        "master_metadata_album_album_name": track[2],
        "spotify_track_uri": play.uri if play.kind == "track" else None,
        "episode_name": episode[0],
        "episode_show_name": episode[1],
        "spotify_episode_uri": play.uri if play.kind == "episode" else None,
        "audiobook_title": chapter[1],
        "audiobook_uri": chapter[2],
        "audiobook_chapter_uri": play.uri if play.kind == "chapter" else None,
        "audiobook_chapter_title": chapter[0],
        "reason_start": "unknown" if play.video else play.reason_start,
        "reason_end": play.reason_end,
        "shuffle": play.shuffle,
        "skipped": play.skipped,
        "offline": None if play.video else play.offline,
        "offline_timestamp": None if play.video or old else _start_s(play),
        "incognito_mode": play.incognito,
    }


def endsong_record(play: TruePlay, names: _Names, username: str) -> dict[str, Any]:
    """One record of the older endsong_N.json (21 keys)."""
    track = names.track(play) if play.kind == "track" else (None, None, None)
    episode = names.episode(play) if play.kind == "episode" else (None, None)
    return {
        "ts": _ts(play),
        "username": username,
        "platform": _LONG_PLATFORM.get(play.platform, play.platform),
        "ms_played": play.ms_played,
        "conn_country": play.conn_country,
        "ip_addr_decrypted": play.ip_addr,
        "user_agent_decrypted": _WEB_UA if play.platform == "web_player" else "unknown",
        "master_metadata_track_name": track[0],
        "master_metadata_album_artist_name": track[1],
        "master_metadata_album_album_name": track[2],
        "spotify_track_uri": play.uri if play.kind == "track" else None,
        "episode_name": episode[0],
        "episode_show_name": episode[1],
        "spotify_episode_uri": play.uri if play.kind == "episode" else None,
        "reason_start": play.reason_start,
        "reason_end": play.reason_end,
        "shuffle": play.shuffle,
        "skipped": True if play.skipped else None,
        "offline": play.offline,
        "offline_timestamp": int(play.started_at.timestamp() * 1000),
        "incognito_mode": play.incognito,
    }


class _Style:
    """How a file type is serialised; joins records dumped one by one, as json.dumps would."""

    def __init__(self, indent: int | None, key_sep: str) -> None:
        self.indent, self.key_sep = indent, key_sep

    def record(self, record: Any) -> str:
        text = json.dumps(record, indent=self.indent, ensure_ascii=False, separators=(",", self.key_sep))
        return text if self.indent is None else "  " + text.replace("\n", "\n  ")

    def join(self, records: list[str]) -> bytes:
        if not records:
            return b"[]"
        if self.indent is None:
            return ("[" + ",".join(records) + "]").encode("utf-8")
        return ("[\n" + ",\n".join(records) + "\n]").encode("utf-8")

    def whole(self, data: Any) -> bytes:
        return json.dumps(
            data, indent=self.indent, ensure_ascii=False, separators=(",", self.key_sep)
        ).encode()


EXTENDED_STYLE = _Style(2, ": ")  # what the real Streaming_History_*.json files look like
ENDSONG_STYLE = _Style(None, ":")  # endsong files were one long line
ACCOUNT_STYLE = _Style(2, " : ")  # account data is pretty-printed Java style: `"key" : value`


def _split_by_size(
    records: list[dict[str, Any]], max_bytes: int, style: _Style
) -> list[tuple[list[dict[str, Any]], bytes]]:
    """Cut records (sorted by ts) into files of at most ~max_bytes, preferring year boundaries."""
    groups: list[tuple[list[dict[str, Any]], bytes]] = []
    current: list[dict[str, Any]] = []
    texts: list[str] = []
    size = 0
    for record in records:
        text = style.record(record)
        rsize = len(text.encode("utf-8")) + 2
        year_change = bool(current) and current[-1]["ts"][:4] != record["ts"][:4]
        if current and (size + rsize > max_bytes or (year_change and size >= max_bytes // 4)):
            groups.append((current, style.join(texts)))
            current, texts, size = [], [], 0
        current.append(record)
        texts.append(text)
        size += rsize
    if current:
        groups.append((current, style.join(texts)))
    return groups


def _years(group: list[dict[str, Any]]) -> str:
    first, last = group[0]["ts"][:4], group[-1]["ts"][:4]
    return first if first == last else f"{first}-{last}"


def build_files(
    emu: Emulator, start: datetime, end: datetime, formats: tuple[str, ...], max_file_bytes: int | None = None
) -> dict[str, bytes]:
    """Every file of the export as {path inside the download: content}."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown export format(s): {', '.join(sorted(unknown))}")
    max_bytes = max_file_bytes or EXTENDED_MAX_BYTES
    plays = sorted(emu.ground_truth(start, end), key=lambda p: (p.played_at, p.started_at))
    names = _Names(emu)
    files: dict[str, bytes] = {}
    if "extended" in formats:
        audio = [extended_record(p, names) for p in plays if not p.video]
        video = [extended_record(p, names) for p in plays if p.video]
        for n, (group, content) in enumerate(_split_by_size(audio, max_bytes, EXTENDED_STYLE)):
            files[f"{EXTENDED_DIR}/Streaming_History_Audio_{_years(group)}_{n}.json"] = content
        for group, content in _split_by_size(video, max_bytes, EXTENDED_STYLE):
            files[f"{EXTENDED_DIR}/Streaming_History_Video_{_years(group)}.json"] = content
        files[f"{EXTENDED_DIR}/ReadMeFirst_ExtendedStreamingHistory.pdf"] = _PDF
    if "endsong" in formats:
        user = emu.listener.username
        old = [endsong_record(p, names, user) for p in plays if p.kind != "chapter"]
        for n, (_group, content) in enumerate(_split_by_size(old, max_bytes, ENDSONG_STYLE)):
            files[f"{ENDSONG_DIR}/endsong_{n}.json"] = content
    if "account" in formats:
        files.update(_account_files(emu, [p for p in plays if not p.incognito], names))
    if "account_legacy" in formats:
        files.update(_legacy_account_files([p for p in plays if not p.incognito], names))
    return files


def _legacy_account_files(plays: list[TruePlay], names: _Names) -> dict[str, bytes]:
    """The older account data: `MyData/StreamingHistoryN.json`, music and podcasts in one list
    (an episode's show as `artistName`, the episode as `trackName`); audiobooks did not exist."""
    records = []
    for play in plays:
        if play.kind == "track":
            track, artist, _album = names.track(play)
        elif play.kind == "episode":
            track, artist = names.episode(play)
        else:
            continue
        records.append(
            {
                "endTime": play.played_at.strftime("%Y-%m-%d %H:%M"),
                "artistName": artist,
                "trackName": track,
                "msPlayed": play.ms_played,
            }
        )
    chunks = [
        records[i : i + ACCOUNT_RECORDS_PER_FILE] for i in range(0, len(records), ACCOUNT_RECORDS_PER_FILE)
    ]
    return {
        f"{ENDSONG_DIR}/StreamingHistory{n}.json": ACCOUNT_STYLE.whole(c)
        for n, c in enumerate(chunks or [[]])
    }


def _account_files(emu: Emulator, plays: list[TruePlay], names: _Names) -> dict[str, bytes]:
    def end_time(play: TruePlay) -> str:
        return play.played_at.strftime("%Y-%m-%d %H:%M")

    music, podcast, audiobook = [], [], []
    for play in plays:
        if play.kind == "track":
            track, artist, _album = names.track(play)
            music.append(
                {
                    "endTime": end_time(play),
                    "artistName": artist,
                    "trackName": track,
                    "msPlayed": play.ms_played,
                }
            )
        elif play.kind == "episode":
            episode, show = names.episode(play)
            podcast.append(
                {
                    "endTime": end_time(play),
                    "podcastName": show,
                    "episodeName": episode,
                    "msPlayed": play.ms_played,
                }
            )
        else:
            chapter, book, _uri, author = names.chapter(play)
            audiobook.append(
                {
                    "endTime": end_time(play),
                    "audiobookName": book,
                    "chapterName": chapter,
                    "authorName": author,
                    "msPlayed": play.ms_played,
                }
            )
    files: dict[str, bytes] = {}
    for stem, records in (("music", music), ("podcast", podcast), ("audiobook", audiobook)):
        if not records and stem == "audiobook":
            continue
        chunks = [
            records[i : i + ACCOUNT_RECORDS_PER_FILE]
            for i in range(0, len(records), ACCOUNT_RECORDS_PER_FILE)
        ]
        for n, chunk in enumerate(chunks or [[]]):
            files[f"{ACCOUNT_DIR}/StreamingHistory_{stem}_{n}.json"] = ACCOUNT_STYLE.whole(chunk)
    who = emu.listener
    cat = emu.catalogue
    liked = who.favourite_tracks[:25]
    extras: dict[str, Any] = {
        "Userdata.json": {
            "username": who.username,
            "email": f"{who.user_id}@example.com",
            "country": who.country,
            "createdFromFacebook": False,
            "facebookUid": None,
            "birthdate": "1996-04-12",
            "gender": "neutral",
            "postalCode": None,
            "mobileNumber": None,
            "mobileOperator": None,
            "mobileBrand": None,
            "creationTime": who.member_since.isoformat(),
        },
        "Identity.json": {
            "displayName": who.display_name,
            "firstName": who.display_name,
            "lastName": "",
            "imageUrl": "",
            "largeImageUrl": "",
            "tasteMaker": False,
            "verified": False,
        },
        "YourLibrary.json": {
            "tracks": [
                {
                    "artist": cat.artists[cat.tracks[t].artist_ids[0]].name,
                    "album": cat.albums[cat.tracks[t].album_id].name,
                    "track": cat.tracks[t].name,
                    "uri": f"spotify:track:{t}",
                }
                for t in liked
            ],
            "albums": [],
            "shows": [],
            "episodes": [],
            "bannedTracks": [],
            "artists": [],
            "bannedArtists": [],
            "other": [],
        },
        "Playlist1.json": {
            "playlists": [
                {
                    "name": name,
                    "lastModifiedDate": "2025-06-01",
                    "items": [
                        {
                            "track": {
                                "trackName": cat.tracks[t].name,
                                "artistName": cat.artists[cat.tracks[t].artist_ids[0]].name,
                                "albumName": cat.albums[cat.tracks[t].album_id].name,
                                "trackUri": f"spotify:track:{t}",
                            },
                            "episode": None,
                            "localTrack": None,
                            "addedDate": "2025-06-01",
                        }
                        for t in tracks[:10]
                    ],
                    "description": None,
                    "numberOfFollowers": 0,
                }
                for _pid, name, tracks in who.playlists[:3]
            ]
        },
        "SearchQueries.json": [],
        "Marquee.json": [],
    }
    for name, data in extras.items():
        files[f"{ACCOUNT_DIR}/{name}"] = ACCOUNT_STYLE.whole(data)
    files[f"{ACCOUNT_DIR}/ReadMeFirst_YourAccountData.pdf"] = _PDF
    return files


def write_export(
    emu: Emulator,
    dest: Path | str,
    start: datetime,
    end: datetime,
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    zip: bool = True,
    max_file_bytes: int | None = None,
) -> Path:
    """Write the export under `dest` (a folder; or the zip's own path when it ends in .zip).

    Returns the zip's path (`dest/my_spotify_data.zip`) or, with zip=False, `dest` holding the
    folders. Zip entries carry the emulated now as their date, so equal emulators write equal bytes.
    """
    dest = Path(dest)
    files = build_files(emu, start, end, formats, max_file_bytes)
    if not zip:
        for name, content in files.items():
            path = dest / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        return dest
    target = dest if dest.suffix == ".zip" else dest / ZIP_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    stamp = emu.clock.now().astimezone(UTC)
    date_time = (max(stamp.year, 1980), stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return target
