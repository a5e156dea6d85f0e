"""The account-data formats: StreamingHistory_music_N.json (or StreamingHistoryN.json), and the
podcast and audiobook histories beside it.

They name plays by artist and track (show and episode), end to the minute, and carry no Spotify ids:
the ids are made from the names (`brapped.identity`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from brapped import identity
from brapped.imports.fields import RecordReader
from brapped.imports.rows import SKIP_NO_NAMES, EpisodeRow, MusicRow


class AccountReader(RecordReader):
    """Reads account-data records into the parsed file's rows (or counts them as skipped)."""

    def account_music(self, document: Iterable[Any]) -> None:
        music = self.parsed.music
        for index, value in enumerate(document):
            r = self.record(value, index)
            played_at = self.end_minute(r.get("endTime"), index)
            ms_played = self.ms(r, "msPlayed", index)
            artist = self.text(r, "artistName", index)
            track = self.text(r, "trackName", index)
            if not artist or not track:
                self.parsed.skipped[SKIP_NO_NAMES] += 1
                continue
            music.append(
                MusicRow(
                    played_at,
                    self.name_track_id(artist, track),
                    track,
                    self.artist_id(artist),
                    artist,
                    None,
                    None,
                    None,
                    ms_played,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    "account",
                )
            )

    def account_spoken(self, document: Iterable[Any], kind: str) -> None:
        show_key, name_key = (
            ("podcastName", "episodeName") if kind == "podcast" else ("audiobookName", "chapterName")
        )
        episodes = self.parsed.episodes
        for index, value in enumerate(document):
            r = self.record(value, index)
            played_at = self.end_minute(r.get("endTime"), index)
            ms_played = self.ms(r, "msPlayed", index)
            show = self.text(r, show_key, index)
            name = self.text(r, name_key, index)
            if not show or not name:
                self.parsed.skipped[SKIP_NO_NAMES] += 1
                continue
            episodes.append(
                EpisodeRow(
                    played_at,
                    identity.episode_id(show, name),
                    kind,
                    name,
                    show,
                    None,
                    None,
                    ms_played,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    "account",
                )
            )
