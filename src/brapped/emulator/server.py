"""The emulator over real HTTP: an ASGI app and a uvicorn server in a background thread."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from brapped.emulator.service import Emulator

Scope = dict[str, Any]
Message = dict[str, Any]


class DroppedConnection(Exception):
    """Raised after the response started so that uvicorn closes the socket mid-response."""


class _HideDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


class EmulatorASGI:
    """ASGI wrapper around `Emulator.dispatch`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def __call__(
        self, scope: Scope, receive: Callable[[], Any], send: Callable[[Message], Any]
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host")
        if host is None:
            server_host, server_port = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server_host}:{server_port}"
        # The User-Agent only for MusicBrainz paths: wrappers of `dispatch` with the Spotify-era
        # signature keep working.
        extra = {"user_agent": headers.get("user-agent")} if scope["path"].startswith("/ws/2/") else {}
        reply = self.emulator.dispatch(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            headers.get("authorization"),
            b"".join(chunks),
            f"{scope.get('scheme', 'http')}://{host}",
            **extra,
        )
        if reply.action == "drop":
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]}
            )
            raise DroppedConnection("fault injected: connection dropped")
        if reply.action == "slow":
            await asyncio.sleep(reply.delay)
        body = reply.body()
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.header_items()]
        raw_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


def make_server(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> Any:
    """A uvicorn.Server for the emulator (not started)."""
    import uvicorn

    logging.getLogger("uvicorn.error").addFilter(_HideDrops())
    config = uvicorn.Config(
        EmulatorASGI(emulator), host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    return uvicorn.Server(config)


def bound_url(server: Any, host: str) -> str:
    """The base URL a started uvicorn server listens on."""
    port = server.servers[0].sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@contextmanager
def serve_in_thread(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the emulator with uvicorn in a daemon thread; yields its base URL, stops on exit."""
    server = make_server(emulator, host, port)
    thread = threading.Thread(target=server.run, name="brapped-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the emulator server did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield bound_url(server, host)
    finally:
        server.should_exit = True
        thread.join(10)
