"""`brapped serve`: the web dashboard on this machine (or, with a token, on the network)."""

from __future__ import annotations

import click

from brapped.cli.context import AppContext, pass_app, plain


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
    import uvicorn

    from brapped.web import app_for_host, check_bind

    token = app.settings.values.get("dashboard_token")
    # Checked before opening the database: refusing to start should not migrate anything.
    check_bind(host, token)
    web = app_for_host(app.store(), app.settings, app.clock, host)
    # Long histories take seconds to sum up: compute the usual pages in the background, again
    # whenever a sync or import changes the data.
    warmer = web.state.dashboard.start_warming()
    shown = f"[{host}]" if ":" in host else host
    # An IPv6 address is bracketed in URLs, which Rich would read as markup: print it as text.
    app.err.print(plain(f"brapped dashboard on http://{shown}:{port}/  (Ctrl+C to stop)"), highlight=False)
    if token:
        app.err.print(
            "A token is required: open it with ?token=… or send Authorization: Bearer.", highlight=False
        )
    try:
        uvicorn.run(web, host=host, port=port, log_level="warning", access_log=False, server_header=False)
    finally:
        warmer.stop()


commands: list[click.Command] = [serve]
