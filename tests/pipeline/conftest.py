"""Fixtures for operations tests: a database filled with varied rows in every table."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from brapped.store import Store, tables

START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def fill(store: Store, plays: int = 300, seed: int = 7) -> dict[str, Any]:
    """Insert `plays` plays plus dimensions, spoken word and operations rows; returns what was made."""
    rng = random.Random(seed)
    artists = [
        {
            "id": f"ar{i:020d}",
            "name": f"Artist {i} ✓ «{i % 3}»" if i % 5 else f"Ærtist, {i}",
            "genres": '["pop", "indie"]' if i % 2 else None,
            "popularity": i % 100 if i % 3 else None,
            "followers": 10**10 + i if i % 4 == 0 else None,
            "enriched_at": START + timedelta(minutes=i, milliseconds=123) if i % 2 else None,
        }
        for i in range(12)
    ]
    albums = [
        {
            "id": f"al{i:020d}",
            "name": f"Album {i}",
            "album_type": "album" if i % 2 else "single",
            "release_date": "2020-01-0" + str(i % 9 + 1) if i % 3 else "1999",
            "total_tracks": 10 + i,
        }
        for i in range(6)
    ]
    tracks = [
        {
            "id": f"tr{i:020d}",
            "name": f"Track {i} (feat. someone)" if i % 4 == 0 else f"Track {i}",
            "album_id": albums[i % len(albums)]["id"] if i % 7 else None,
            "duration_ms": 120_000 + i * 1000 if i % 6 else None,
            "explicit": bool(i % 2) if i % 5 else None,
            "is_resolved": i % 3 != 0,
        }
        for i in range(30)
    ]
    track_artists = []
    for i, track in enumerate(tracks):
        credited = rng.sample(artists, 1 + (i % 3))
        track_artists += [
            {"track_id": track["id"], "position": p, "artist_id": a["id"]} for p, a in enumerate(credited)
        ]
    album_artists = [
        {"album_id": album["id"], "position": 0, "artist_id": artists[i]["id"]}
        for i, album in enumerate(albums)
    ]
    genres = [{"artist_id": a["id"], "genre": g} for a in artists if a["genres"] for g in ("pop", "indie")]
    moment = START
    play_rows = []
    for i in range(plays):
        moment += timedelta(seconds=rng.randint(40, 400), milliseconds=rng.randint(0, 999))
        if i % 97 == 0:
            moment += timedelta(hours=9)  # nights, so plays spread over several days
        play_rows.append(
            {
                "user_id": "listener" if i % 10 else "other",
                "played_at": moment,
                "track_id": rng.choice(tracks)["id"],
                "ms_played": rng.randint(1000, 300_000) if i % 11 else None,
                "ms_played_source": "estimate" if i % 11 else None,
                "source": ("api", "export", "both")[i % 3],
                "context_type": "playlist" if i % 2 else None,
                "platform": "android" if i % 3 else None,
                "shuffle": bool(i % 2),
                "skipped": bool(i % 4 == 0) if i % 3 else None,
                "offline": False,
            }
        )
    episodes = [
        {"id": f"ep{i}", "kind": "podcast" if i else "audiobook", "name": f"Episode {i}"} for i in range(3)
    ]
    episode_plays = [
        {
            "user_id": "listener",
            "played_at": START + timedelta(hours=i),
            "episode_id": episodes[i % 3]["id"],
            "source": "export",
            "ms_played": 60_000 * i,
        }
        for i in range(5)
    ]
    with store.begin() as conn:
        conn.execute(
            insert(tables.accounts), [{"id": "listener", "display_name": "Lis", "first_seen_at": START}]
        )
        conn.execute(insert(tables.artists), artists)
        conn.execute(insert(tables.artist_genres), genres)
        conn.execute(insert(tables.albums), albums)
        conn.execute(insert(tables.album_artists), album_artists)
        conn.execute(insert(tables.tracks), tracks)
        conn.execute(insert(tables.track_artists), track_artists)
        conn.execute(insert(tables.plays), play_rows)
        conn.execute(insert(tables.episodes), episodes)
        conn.execute(insert(tables.episode_plays), episode_plays)
        run_id = conn.execute(
            insert(tables.runs).values(
                kind="sync", started_at=START, finished_at=START, outcome="ok", counts='{"plays": 3}'
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(
            insert(tables.gaps).values(
                user_id="listener",
                gap_from=START,
                gap_to=START + timedelta(hours=1),
                detected_at=START,
                run_id=run_id,
            )
        )
        conn.execute(
            insert(tables.imported_files).values(
                sha256="a" * 64,
                name="Streaming_History_Audio_2026.json",
                format="extended",
                records=5,
                imported_at=START,
            )
        )
        conn.execute(
            insert(tables.state).values(scope="global", key="resume_after", value="x", updated_at=START)
        )
    return {"plays": play_rows, "tracks": tracks, "artists": artists, "track_artists": track_artists}


# --- local delivery endpoints -------------------------------------------------------------------------

import json as _json  # noqa: E402
import socketserver  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

import pytest  # noqa: E402


@dataclass
class Webhook:
    """A tiny HTTP server on 127.0.0.1 that records what is POSTed to it."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    status: int = 204


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.received.append(_json.loads(body))
            hook.paths.append(self.path)
            self.send_response(hook.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/SECRETPART"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()


@dataclass
class Mailbox:
    """A minimal SMTP server on 127.0.0.1 (no TLS): enough for smtplib to deliver one message."""

    port: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            def say(line: str) -> None:
                self.wfile.write((line + "\r\n").encode())

            say("220 localhost test SMTP")
            current: dict[str, Any] = {"rcpt": [], "auth": None}
            while True:
                raw = self.rfile.readline()
                if not raw:
                    return
                line = raw.decode().rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    say("250-localhost")
                    say("250 AUTH PLAIN")
                elif verb == "AUTH":
                    current["auth"] = line
                    say("235 ok")
                elif verb == "MAIL":
                    current["from"] = line
                    say("250 ok")
                elif verb == "RCPT":
                    current["rcpt"].append(line)
                    say("250 ok")
                elif verb == "DATA":
                    say("354 go on")
                    lines = []
                    while (data := self.rfile.readline().decode()) not in (".\r\n", ""):
                        lines.append(data)
                    current["data"] = "".join(lines)
                    box.messages.append(current)
                    current = {"rcpt": [], "auth": None}
                    say("250 queued")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("250 ok")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    """A migrated SQLite store, for tests whose subject does not depend on the database."""
    from brapped.store import open_store

    opened = open_store(sqlite_url)
    yield opened
    opened.close()
