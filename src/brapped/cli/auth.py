"""`brapped auth`: authorise brapped to read your Spotify listening history."""

from __future__ import annotations

import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager

import click

from brapped.cli.context import AppContext, emit_json, pass_app, safe, summary_format_option
from brapped.spotify import EXTRA_SCOPES, SpotifyClient, authorise, connect, connect_all
from brapped.spotify.account_tokens import forget


@contextmanager
def spotify_client(app: AppContext) -> Iterator[SpotifyClient]:
    """The Web API client of the first account (playlist uses it), closed afterwards."""
    client = connect(app.settings, app.clock)
    try:
        yield client
    finally:
        client.http.close()


@contextmanager
def household_clients(app: AppContext) -> Iterator[list[SpotifyClient]]:
    """One client per authorised account (the first account's when none is: its first request then
    says `brapped auth` is needed), all closed afterwards."""
    clients = connect_all(app.settings, app.clock) or [connect(app.settings, app.clock)]
    try:
        yield clients
    finally:
        for client in clients:
            client.http.close()


@click.command("auth")
@click.option("--no-browser", is_flag=True, help="Print the URL to open instead of starting a browser.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Loopback port for Spotify's redirect (default: redirect_port, 8888). "
    "Register http://127.0.0.1:PORT/callback in your Spotify app.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=300.0,
    show_default=True,
    help="Seconds to wait for Spotify.",
)
@click.option("--forget", "sign_out", is_flag=True, help="Delete saved tokens instead (sign brapped out).")
@click.option(
    "--user",
    "user_id",
    metavar="ID",
    help="With --forget: only this account's tokens (default: every account's).",
)
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(sorted(EXTRA_SCOPES)),
    multiple=True,
    help="Also grant this extra access (playlist: create private playlists, for "
    "`brapped playlist wrapped`). Extra grants already given are kept.",
)
@summary_format_option
@pass_app
def auth_command(
    app: AppContext,
    no_browser: bool,
    port: int | None,
    timeout: float,
    sign_out: bool,
    user_id: str | None,
    scopes: tuple[str, ...],
    fmt: str,
) -> None:
    """Authorise brapped with Spotify (Authorization Code with PKCE; with the client secret when one
    is configured). The first account's tokens go to BRAPPED_HOME/token.json, every further account's
    to BRAPPED_HOME/tokens/ID.json (mode 0600, never shown): run it once per household member, each
    signing in with their own Spotify account. Running it again for an account renews its tokens.

    Needs SPOTIFY_CLIENT_ID (your app at developer.spotify.com). For a headless server, set
    SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET and SPOTIFY_REFRESH_TOKEN (several accounts: tokens
    separated by commas, or one a line in SPOTIFY_REFRESH_TOKENS_FILE) instead of running this.
    """
    settings = app.settings
    if sign_out:
        gone = forget(settings, user_id)
        if fmt == "json":
            emit_json(app, {"forgotten": bool(gone), "token_files": [str(p) for p in gone]})
        else:
            click.echo(
                "Deleted " + ", ".join(str(p) for p in gone) + "." if gone else "No saved tokens to delete."
            )
        return

    def open_url(url: str) -> None:
        if no_browser:
            click.echo("Open this URL in a browser and approve brapped:", err=True)
            click.echo(url)  # alone on its line on stdout, so scripts can read it
        else:
            click.echo(f"Opening your browser; if nothing happens, open:\n{url}", err=True)
            if not webbrowser.open(url):
                click.echo("(no browser found: open the URL above yourself)", err=True)
        click.echo(f"Waiting up to {timeout:.0f} s for Spotify's answer...", err=True)

    extra = [scope for name in scopes for scope in EXTRA_SCOPES[name]]
    result = authorise(settings, app.clock, open_url, port=port, timeout=timeout, extra_scopes=extra)
    tokens = result.tokens
    data = {
        "user_id": tokens.user_id,
        "display_name": tokens.display_name,
        "flow": "pkce" if result.pkce else "client_secret",
        "scope": tokens.scope,
        "token_file": str(result.token_file or settings.token_file),
        "refresh_token_expires_at": tokens.refresh_expires_at,
    }
    if fmt == "json":
        emit_json(app, data)
        return
    who = safe(f"{tokens.display_name} ({tokens.user_id})" if tokens.display_name else str(tokens.user_id))
    click.echo(
        f"Authorised as {who} with {data['flow']}. Tokens saved to {data['token_file']} (mode 0600); "
        f"the authorisation lasts until {tokens.refresh_expires_at:%Y-%m-%d}. Next: brapped sync"
    )


commands: list[click.Command] = [auth_command]
