"""`brapped serve`: the web dashboard on this machine (or, with a token, on the network)."""

from __future__ import annotations

import os
import socket
from typing import Any

import click

from brapped.cli.context import AppContext, pass_app, plain
from brapped.errors import BrappedError


def dashboard_url(host: str, port: int) -> str:
    # An IPv6 address is bracketed in URLs.
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host`:`port`, as uvicorn would open it, but before anything is said:
    a busy port is one line of error, not an address printed (or logged as started) that nothing
    answers. Port 0 takes a free one (`getsockname` tells which)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        if os.name != "nt":  # as uvicorn: a restart may take the port its predecessor left
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise BrappedError(f"cannot listen on {dashboard_url(host, port)}: {exc.strerror or exc}") from exc
    return sock


def uvicorn_server(web: Any) -> Any:
    """A uvicorn server for the dashboard, to run on a socket of `listen`."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(web, log_level="warning", access_log=False, server_header=False))


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on."
)
@pass_app
def serve(app: AppContext, host: str, port: int) -> None:
    """Open the web dashboard: overview, day, Wrapped, search, artist/track/album pages, data health.

    Listens on 127.0.0.1 by default. Any other address needs BRAPPED_DASHBOARD_TOKEN (or
    dashboard_token in config.toml); every request must then carry it, as
    'Authorization: Bearer TOKEN' or once as ?token=TOKEN (which sets a cookie). Read-only.
    """
    from brapped.web import app_for_host, check_bind

    token = app.settings.values.get("dashboard_token")
    # Checked before opening the database: refusing to start should not migrate anything.
    check_bind(host, token)
    sock = listen(host, port)
    web = app_for_host(app.store(), app.settings, app.clock, host)
    # Long histories take seconds to sum up: compute the usual pages in the background, again
    # whenever a sync or import changes the data.
    warmer = web.state.dashboard.start_warming()
    url = dashboard_url(host, sock.getsockname()[1])
    # Printed as text: Rich would read an IPv6 address's brackets as markup.
    app.err.print(plain(f"brapped dashboard on {url}  (Ctrl+C to stop)"), highlight=False)
    if token:
        app.err.print(
            "A token is required: open it with ?token=… or send Authorization: Bearer.", highlight=False
        )
    try:
        uvicorn_server(web).run(sockets=[sock])
    finally:
        warmer.stop()
        sock.close()


commands: list[click.Command] = [serve]
