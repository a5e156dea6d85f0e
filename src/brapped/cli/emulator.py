"""`brapped emulator`: serve the Spotify emulator over HTTP, for trying brapped without Spotify."""

from __future__ import annotations

import ipaddress
import signal
import time
from datetime import UTC, datetime

import click

from brapped.emulator import DEFAULT_CLIENT_ID, DEFAULT_REDIRECT_URIS, Emulator, serve_in_thread
from brapped.emulator.clock import EmulatedClock, TickingClock


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (keep it on loopback).")
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port; 0 picks one."
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed of the catalogue and the listener."
)
@click.option(
    "--mode",
    type=click.Choice(["development", "extended"]),
    default="development",
    show_default=True,
    help="Spotify app mode: development (batch lookups refused, removed fields absent) or extended.",
)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    default=None,
    help="Emulated start time (UTC); default: now.",
)
@click.option(
    "--frozen",
    is_flag=True,
    help="Keep emulated time still (move it with POST /_admin/clock) instead of ticking.",
)
def emulator_command(
    host: str, port: int, seed: int, mode: str, start: datetime | None, frozen: bool
) -> None:
    """Serve an emulated Spotify (accounts, Web API, a simulated listener) until Ctrl+C.

    Point brapped at the printed URLs: the accounts base for /authorize and /api/token, and the Web
    API base (ending in /v1). The default client id needs no registration.
    """
    begin = (start.replace(tzinfo=UTC) if start else datetime.now(UTC)).replace(microsecond=0)
    clock = EmulatedClock(begin) if frozen else TickingClock(begin)
    emu = Emulator(seed=seed, mode=mode, clock=clock)
    if not _is_loopback(host):
        click.echo(f"Warning: binding {host} exposes the emulator beyond this machine.", err=True)
    with serve_in_thread(emu, host=host, port=port) as base_url:
        click.echo(f"Spotify emulator (seed {seed}, {mode} mode) at {base_url}")
        click.echo(f"  accounts base: {base_url}   (GET /authorize, POST /api/token)")
        click.echo(f"  Web API base:  {base_url}/v1")
        click.echo(f"  admin:         {base_url}/_admin/clock, /_admin/faults, /_admin/counters")
        click.echo(
            f"  client id:     {DEFAULT_CLIENT_ID}   (redirect URIs: {', '.join(DEFAULT_REDIRECT_URIS)})"
        )
        click.echo(f"  emulated now:  {clock.now():%Y-%m-%dT%H:%M:%SZ}{' (frozen)' if frozen else ''}")
        click.echo("Point brapped at it (another terminal):")
        click.echo(f"  export BRAPPED_SPOTIFY_ACCOUNTS_URL={base_url} BRAPPED_SPOTIFY_API_URL={base_url}/v1")
        click.echo(f"  export SPOTIFY_CLIENT_ID={DEFAULT_CLIENT_ID}")
        click.echo("Press Ctrl+C to stop.")
        # A service manager stops with SIGTERM; background jobs may ignore SIGINT.
        signal.signal(signal.SIGTERM, _stop)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("Stopped.")


commands: list[click.Command] = [emulator_command]
