"""Extended streaming history (and its older endsong form) read record by record.

This is the careful reading: it takes every file `orjson` can read, and it alone words the errors.
`brapped.imports.extended_fast` takes most files faster and hands it whatever it does not take.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from brapped import identity
from brapped.imports.fields import (
    MAX_MS_PLAYED,
    MAX_NAME,
    RecordReader,
    at_real_time,
    offline_ms_from,
    quote,
)
from brapped.imports.rows import ENDSONG, EXTENDED, SKIP_LOCAL, SKIP_NO_CONTENT, EpisodeRow, MusicRow
from brapped.imports.sources import base_name

_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
_TS_FAST = re.compile(r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\dZ")
# JSON cannot hold a raw control character in a string, only an escape of one.
ESCAPED_CONTROL = re.compile(rb"\\(?:u00[01][0-9a-fA-F]|u007[fF]|[bfnrt])")


def extended_format(name: str, personal: bool) -> str:
    """`ENDSONG` or `EXTENDED`: endsong records carry the listener's `username`, IP address or user
    agent (`personal`), or the file's name says endsong or endvideo."""
    lowered = base_name(name).lower()
    if personal or "endsong" in lowered or "endvideo" in lowered:
        return ENDSONG
    return EXTENDED


class ExtendedReader(RecordReader):
    """Reads extended-history records into the parsed file's rows (or counts them as skipped)."""

    def extended(self, document: Iterable[Any], clean: bool) -> None:
        """Extended history. `clean`: the file has no escaped control characters at all."""
        music = self.parsed.music
        append = music.append
        earliest, latest = self.earliest_ts, self.latest_ts
        earliest_ms, latest_ms = self.earliest_ms, self.latest_ms
        valid_dates = self.valid_dates
        fast = clean and not self.keep_personal
        artist_ids, album_ids = self.artist_ids, self.album_ids
        new_row = tuple.__new__
        for index, r in enumerate(document):
            # The fast path takes the common record (a track play, every field well-typed) in
            # a few inline checks; anything else goes through the careful path below, which
            # accepts exactly the same records and explains what is wrong with the others.
            if fast and type(r) is dict:
                get = r.get
                ts = get("ts")
                ms = get("ms_played")
                uri = get("spotify_track_uri")
                platform = get("platform")
                country = get("conn_country")
                start = get("reason_start")
                end = get("reason_end")
                name = get("master_metadata_track_name")
                artist = get("master_metadata_album_artist_name")
                album = get("master_metadata_album_album_name")
                shuffle = get("shuffle")
                skipped_flag = get("skipped")
                offline = get("offline")
                incognito = get("incognito_mode")
                offline_ts = get("offline_timestamp")
                username = get("username")
                if (
                    type(ts) is str
                    and len(ts) == 20
                    and earliest <= ts <= latest
                    and _TS_FAST.match(ts) is not None
                    and (ts[:10] in valid_dates or self._valid_date(ts[:10]))
                    and type(ms) is int
                    and 0 <= ms <= MAX_MS_PLAYED
                    and type(uri) is str
                    and len(uri) == 36
                    and uri.startswith("spotify:track:")
                    and uri.isascii()
                    and uri[14:].isalnum()
                    and (platform is None or type(platform) is str)
                    and (country is None or (type(country) is str and len(country) <= 8))
                    and (start is None or (type(start) is str and len(start) <= 32))
                    and (end is None or (type(end) is str and len(end) <= 32))
                    and (name is None or type(name) is str)
                    and (artist is None or type(artist) is str)
                    and (album is None or type(album) is str)
                    and len(platform or "") + len(name or "") + len(artist or "") + len(album or "")
                    <= MAX_NAME
                    and (shuffle is None or shuffle is True or shuffle is False)
                    and (skipped_flag is None or skipped_flag is True or skipped_flag is False)
                    and (offline is None or offline is True or offline is False)
                    and (incognito is None or incognito is True or incognito is False)
                    and (offline_ts is None or type(offline_ts) is int)
                    and (username is None or (username == self.parsed.username))
                ):
                    track_id = uri[14:]
                    artist_key = album_key = None
                    if artist:
                        artist_key = artist_ids.get(artist) or self.artist_id(artist)
                        if album:
                            album_key = album_ids.get((artist, album)) or self.album_id(artist, album)
                    played_at = f"{ts[:10]} {ts[11:19]}.000"
                    offline_ms = (
                        None if offline_ts is None else offline_ms_from(offline_ts, earliest_ms, latest_ms)
                    )
                    reported_ms = None
                    if offline is True:
                        played_at, reported_ms = at_real_time(played_at, ms, offline_ms)
                    # tuple.__new__ skips the named tuple's Python-level constructor.
                    append(
                        new_row(
                            MusicRow,
                            (
                                played_at,
                                track_id,
                                name or track_id,
                                artist_key,
                                artist,
                                album_key,
                                album,
                                uri,
                                ms,
                                platform,
                                country,
                                start,
                                end,
                                shuffle,
                                skipped_flag,
                                offline,
                                incognito,
                                offline_ms,
                                None,
                                None,
                                "extended",
                                reported_ms,
                            ),
                        )
                    )
                    continue
            self._extended_record(r, index)

    def _extended_record(self, value: Any, index: int) -> None:
        music = self.parsed.music
        episodes = self.parsed.episodes
        skipped = self.parsed.skipped
        keep = self.keep_personal
        r = self.record(value, index)
        played_at = self.ts(r.get("ts"), index)
        ms_played = self.ms(r, "ms_played", index)
        platform = self.text(r, "platform", index)
        country = self.short(r, "conn_country", index, 8)
        reason_start = self.short(r, "reason_start", index, 32)
        reason_end = self.short(r, "reason_end", index, 32)
        shuffle = self.flag(r, "shuffle", index)
        skipped_flag = self.flag(r, "skipped", index)
        offline = self.flag(r, "offline", index)
        incognito = self.flag(r, "incognito_mode", index)
        username = r.get("username")
        if username is not None and self.parsed.username is None:
            self.parsed.username = self.text(r, "username", index, 64)
        ip_addr = user_agent = None
        if keep:
            ip_addr = self.text(r, "ip_addr", index) or self.text(r, "ip_addr_decrypted", index)
            user_agent = self.text(r, "user_agent_decrypted", index)
        track_uri = self.text(r, "spotify_track_uri", index, 200)
        track_name = self.text(r, "master_metadata_track_name", index)
        if track_uri is not None:
            track_id = identity.spotify_id(track_uri, "track")
            if track_id is None or not _ID.match(track_id):
                if track_uri.startswith("spotify:local:"):
                    skipped[SKIP_LOCAL] += 1
                    return
                raise self.fail(index, f"spotify_track_uri {quote(track_uri)} is not a track URI")
            artist = self.text(r, "master_metadata_album_artist_name", index)
            album = self.text(r, "master_metadata_album_album_name", index)
            offline_ms = self.offline_ms(r.get("offline_timestamp"), index)
            reported_ms = None
            if offline is True:
                played_at, reported_ms = at_real_time(played_at, ms_played, offline_ms)
            music.append(
                MusicRow(
                    played_at,
                    track_id,
                    track_name if track_name else track_id,
                    self.artist_id(artist) if artist else None,
                    artist,
                    self.album_id(artist, album) if artist and album else None,
                    album,
                    track_uri,
                    ms_played,
                    platform,
                    country,
                    reason_start,
                    reason_end,
                    shuffle,
                    skipped_flag,
                    offline,
                    incognito,
                    offline_ms,
                    ip_addr,
                    user_agent,
                    "extended",
                    reported_ms,
                )
            )
            return
        episode_uri = self.text(r, "spotify_episode_uri", index, 200)
        chapter_uri = self.text(r, "audiobook_chapter_uri", index, 200)
        if episode_uri is not None or chapter_uri is not None:
            uri: str = episode_uri or chapter_uri or ""
            if episode_uri is not None:
                kind = "podcast"
                name = self.text(r, "episode_name", index)
                show = self.text(r, "episode_show_name", index)
                show_uri = None
            else:
                kind = "audiobook"
                name = self.text(r, "audiobook_chapter_title", index)
                show = self.text(r, "audiobook_title", index)
                show_uri = self.text(r, "audiobook_uri", index, 200)
            episode_id = _uri_id(uri)
            if episode_id is None:
                raise self.fail(index, f"{kind} URI {quote(uri)} is not a Spotify URI")
            episodes.append(
                EpisodeRow(
                    played_at,
                    episode_id,
                    kind,
                    name or episode_id,
                    show,
                    uri,
                    show_uri,
                    ms_played,
                    platform,
                    country,
                    reason_start,
                    reason_end,
                    shuffle,
                    skipped_flag,
                    offline,
                    incognito,
                    ip_addr,
                    user_agent,
                    "extended",
                )
            )
            return
        skipped[SKIP_LOCAL if track_name else SKIP_NO_CONTENT] += 1


def _uri_id(uri: str) -> str | None:
    parts = uri.split(":")
    if len(parts) == 3 and parts[0] == "spotify" and _ID.match(parts[2]):
        return parts[2]
    return None
