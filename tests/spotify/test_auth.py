"""Authorisation: PKCE end to end, the token store, rotation saved before use, headless seeding."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from brapped.cli import cli
from brapped.cli.context import AppContext
from brapped.config import load_settings
from brapped.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatedClock,
    Emulator,
    Fault,
    serve_in_thread,
)
from brapped.spotify import AuthExpired, TokenManager, TokenSet, TokenStore, authorise, connect
from brapped.spotify.auth import AppCredentials, fingerprint
from tests.spotify import harness
from tests.spotify.harness import START, make_settings

emu = harness.emu
settings = harness.settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- token store -------------------------------------------------------------------------------


def _tokens(refresh: str = "AQ-secret-refresh") -> TokenSet:
    return TokenSet(client_id="cid", refresh_token=refresh, issued_at=START, access_token="BQ-secret-access")


def test_token_file_is_0600_and_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "home" / "token.json"
    store = TokenStore(path)
    path.parent.mkdir()
    path.write_text("{}")
    path.chmod(0o644)  # a loose file from elsewhere is tightened by the first save
    store.save(_tokens())
    assert _mode(path) == 0o600
    assert json.loads(path.read_text())["refresh_token"] == "AQ-secret-refresh"
    assert store.load() == _tokens()
    assert sorted(p.name for p in path.parent.iterdir()) == ["token.json"]  # no temp file left


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = TokenStore(tmp_path / "token.json")
    store.save(_tokens("old"))

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        store.save(_tokens("new"))
    loaded = store.load()
    assert loaded is not None and loaded.refresh_token == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["token.json"]


def test_tokens_never_in_repr() -> None:
    text = repr(_tokens())
    assert "secret" not in text and "cid" in text


def test_damaged_token_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "token.json").write_text("{not json")
    with pytest.raises(Exception, match="damaged: run `brapped auth` again") as caught:
        TokenStore(tmp_path / "token.json").load()
    assert getattr(caught.value, "exit_code", None) == 77


# -- refreshing ----------------------------------------------------------------------------------


def test_rotated_refresh_token_is_on_disk_before_any_api_call(tmp_path: Path, emu: Emulator) -> None:
    seed = emu.issue_refresh_token()
    settings = make_settings(tmp_path, seed)
    seen_on_disk: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/"):
            on_disk = json.loads(settings.token_file.read_text())["refresh_token"]
            seen_on_disk.append(on_disk)
            # The token on disk is the one Spotify still honours (the old one was revoked).
            assert not emu.accounts.grants[on_disk].revoked
        return emu.handle(request)

    client = connect(settings, emu.clock, transport=httpx.MockTransport(handler))
    for _ in range(5):
        client.me()
        emu.clock.advance(timedelta(hours=2))
    assert len(set(seen_on_disk)) == 5 and seed not in seen_on_disk  # rotated every time
    assert emu.accounts.grants[seed].revoked


def test_a_failed_save_means_the_new_access_token_is_never_used(
    tmp_path: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, emu.issue_refresh_token())
    client = connect(settings, emu.clock, transport=emu.transport())
    client.me()  # seeds the file, refreshes once
    emu.clock.advance(timedelta(hours=2))
    emu.counters.reset()
    manager = client.tokens
    assert isinstance(manager, TokenManager)

    def full_disk(tokens: TokenSet) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(manager.store, "save", full_disk)
    with pytest.raises(OSError):
        client.me()
    assert emu.counters.v1_total == 0


def test_secret_client_tokens_are_not_rotated(tmp_path: Path, emu: Emulator) -> None:
    seed = emu.issue_refresh_token(pkce=False)
    settings = make_settings(tmp_path, seed, SPOTIFY_CLIENT_SECRET=DEFAULT_CLIENT_SECRET)
    client = connect(settings, emu.clock, transport=emu.transport())
    for _ in range(3):
        client.me()
        emu.clock.advance(timedelta(hours=2))
    assert TokenStore(settings.token_file).load().refresh_token == seed  # type: ignore[union-attr]


def test_environment_token_seeds_once_then_the_file_wins(tmp_path: Path, emu: Emulator) -> None:
    seed = emu.issue_refresh_token()
    settings = make_settings(tmp_path, seed)
    connect(settings, emu.clock, transport=emu.transport()).me()
    saved = TokenStore(settings.token_file).load()
    assert saved is not None and saved.refresh_token != seed and saved.seeded_from == fingerprint(seed)
    assert saved.issued_at_known is False
    # The spent env token is still set (as on a scheduler): the rotated file must win.
    emu.clock.advance(timedelta(hours=2))
    connect(settings, emu.clock, transport=emu.transport()).me()
    # A different env token (the user pasted a new one) takes over.
    fresh = emu.issue_refresh_token()
    emu.clock.advance(timedelta(hours=2))
    connect(make_settings(tmp_path, fresh), emu.clock, transport=emu.transport()).me()
    assert emu.accounts.grants[fresh].revoked  # it was used (and rotated)


def test_invalid_grant_tells_the_user_to_authorise_again(tmp_path: Path, emu: Emulator) -> None:
    settings = make_settings(tmp_path, emu.issue_refresh_token())
    emu.faults.add(Fault(kind="invalid_grant"))
    with pytest.raises(AuthExpired, match="run `brapped auth` again") as caught:
        connect(settings, emu.clock, transport=emu.transport()).me()
    assert caught.value.exit_code == 77


def test_no_client_id_is_an_auth_error(tmp_path: Path, emu: Emulator) -> None:
    settings = load_settings(env={}, home=tmp_path)
    with pytest.raises(Exception, match="SPOTIFY_CLIENT_ID") as caught:
        connect(settings, emu.clock, transport=emu.transport()).me()
    assert getattr(caught.value, "exit_code", None) == 77


# -- the interactive flow ------------------------------------------------------------------------


def _approve_in_emulator(emu: Emulator, url: str) -> None:
    """What the browser does: GET the consent URL, follow Spotify's redirect to the loopback."""
    answer = emu.handle(httpx.Request("GET", url))
    assert answer.status_code == 302, answer.text
    httpx.get(answer.headers["location"], timeout=10)


def test_pkce_flow_in_process(tmp_path: Path, emu: Emulator) -> None:
    settings = make_settings(tmp_path, None)
    opened: list[str] = []

    def open_url(url: str) -> None:
        opened.append(url)
        threading.Thread(target=_approve_in_emulator, args=(emu, url)).start()

    # Port 0: any free port; the app registered http://127.0.0.1/callback, which matches any port.
    result = authorise(settings, emu.clock, open_url, port=0, transport=emu.transport(), timeout=10)
    assert result.redirect_uri.startswith("http://127.0.0.1:") and result.redirect_uri.endswith("/callback")
    query = dict(httpx.URL(opened[0]).params)
    assert query["code_challenge_method"] == "S256" and "code_challenge" in query
    assert query["scope"] == "user-read-recently-played" and query["state"]
    assert result.pkce and result.tokens.user_id == emu.listener.user_id
    assert result.tokens.refresh_expires_at == START.replace(month=9)
    assert _mode(settings.token_file) == 0o600


def test_a_wrong_state_is_ignored_and_the_real_answer_wins(tmp_path: Path, emu: Emulator) -> None:
    """Any web page can make the browser request the loopback callback: such a request gets a 400
    page saying so, and the flow keeps waiting for Spotify's real answer."""
    settings = make_settings(tmp_path, None)
    port = _free_port()
    refused: list[httpx.Response] = []

    def attacked_then_approved(url: str) -> None:
        base = f"http://127.0.0.1:{port}/callback"
        refused.append(httpx.get(f"{base}?state=wrong", timeout=10))
        refused.append(httpx.get(f"{base}?code=forged-code&state=forged", timeout=10))
        refused.append(httpx.get(f"{base}?error=access_denied", timeout=10))
        threading.Thread(target=_approve_in_emulator, args=(emu, url)).start()

    result = authorise(
        settings, emu.clock, attacked_then_approved, port=port, transport=emu.transport(), timeout=10
    )
    assert [r.status_code for r in refused] == [400, 400, 400]
    for page in refused:
        assert "not the answer brapped is waiting for" in page.text
        assert "authorised" not in page.text
    assert result.tokens.user_id == emu.listener.user_id
    assert _mode(settings.token_file) == 0o600


def test_only_wrong_states_time_out(tmp_path: Path, emu: Emulator) -> None:
    settings = make_settings(tmp_path, None)

    def forge(url: str) -> None:
        answer = emu.handle(httpx.Request("GET", url))
        location = str(answer.headers["location"]).replace("state=", "state=forged")
        assert httpx.get(location, timeout=10).status_code == 400
        assert httpx.get(location.split("?")[0] + "?state=wrong", timeout=10).status_code == 400

    with pytest.raises(
        Exception, match=r"no answer from Spotify within 2 s \(2 requests with a wrong state"
    ) as caught:
        authorise(settings, emu.clock, forge, port=_free_port(), transport=emu.transport(), timeout=2)
    assert getattr(caught.value, "exit_code", None) == 77
    assert not settings.token_file.exists()


def test_denied_consent_is_reported(tmp_path: Path, emu: Emulator) -> None:
    settings = make_settings(tmp_path, None)
    port = _free_port()

    def deny(url: str) -> None:
        state = httpx.URL(url).params["state"]
        threading.Thread(
            target=httpx.get, args=(f"http://127.0.0.1:{port}/callback?error=access_denied&state={state}",)
        ).start()

    with pytest.raises(Exception, match="access_denied"):
        authorise(settings, emu.clock, deny, port=port, transport=emu.transport(), timeout=10)


def test_pkce_end_to_end_cli_then_syncs_across_rotations(tmp_path: Path) -> None:
    """`brapped auth --no-browser` in a real process against the emulator over HTTP; the test plays
    the browser. Then many syncs, each needing a refresh, without authorising again."""
    emu = Emulator(seed=5, clock=EmulatedClock(START))
    home = tmp_path / "home"
    port = _free_port()
    with serve_in_thread(emu) as base:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BRAPPED_", "SPOTIFY_"))},
            "BRAPPED_HOME": str(home),
            "BRAPPED_TIMEZONE": "UTC",
            "SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID,
            "BRAPPED_SPOTIFY_API_URL": base + "/v1",
            "BRAPPED_SPOTIFY_ACCOUNTS_URL": base,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "brapped", "auth", "--no-browser", "--port", str(port), "--timeout", "60"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith(base + "/authorize?")
        consent = httpx.get(url, follow_redirects=True, timeout=10)  # the browser
        assert consent.status_code == 200 and "authorised" in consent.text
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        token_file = home / "token.json"
        assert _mode(token_file) == 0o600
        saved = json.loads(token_file.read_text())
        assert f"Authorised as {emu.listener.display_name} ({emu.listener.user_id})" in out
        for secret in (saved["refresh_token"], saved["access_token"]):
            assert secret not in out + err + url

        runner = CliRunner()
        refresh_tokens = [saved["refresh_token"]]
        for _ in range(5):
            emu.clock.advance(timedelta(hours=3))  # every access token has expired by now
            result = runner.invoke(
                cli, ["sync", "--format", "json"], env=env, obj=AppContext(clock=emu.clock)
            )
            assert result.exit_code == 0, result.output
            assert json.loads(result.stdout)["outcome"] == "ok"
            current = json.loads(token_file.read_text())
            assert _mode(token_file) == 0o600
            assert current["refresh_token"] not in result.output
            refresh_tokens.append(current["refresh_token"])
        assert len(set(refresh_tokens)) == 6  # rotated on every sync, never re-authorised
        assert emu.counters["GET /authorize"] == 1

        status = runner.invoke(cli, ["status", "--format", "json"], env=env, obj=AppContext(clock=emu.clock))
        assert status.exit_code == 0, status.output
        for secret in refresh_tokens:
            assert secret not in status.output


def test_auth_without_client_id_exits_77(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["auth", "--no-browser"])
    assert result.exit_code == 77
    assert "SPOTIFY_CLIENT_ID" in result.stderr


def test_auth_forget_deletes_the_token_file(runner: CliRunner, tmp_home: Path) -> None:
    TokenStore(tmp_home / "token.json").save(_tokens())
    result = runner.invoke(cli, ["auth", "--forget"])
    assert result.exit_code == 0 and not (tmp_home / "token.json").exists()
    assert "Deleted" in result.stdout


def test_app_credentials_choose_the_flow() -> None:
    assert AppCredentials("id").pkce and not AppCredentials("id", "secret").pkce


def test_client_secret_flow(tmp_path: Path, emu: Emulator) -> None:
    settings = make_settings(tmp_path, None, SPOTIFY_CLIENT_SECRET=DEFAULT_CLIENT_SECRET)
    opened: list[str] = []

    def open_url(url: str) -> None:
        opened.append(url)
        threading.Thread(target=_approve_in_emulator, args=(emu, url)).start()

    result = authorise(settings, emu.clock, open_url, port=0, transport=emu.transport(), timeout=10)
    assert "code_challenge" not in dict(httpx.URL(opened[0]).params)
    assert not result.pkce and result.tokens.user_id == emu.listener.user_id
    grant = emu.accounts.grants[result.tokens.refresh_token]
    assert grant.pkce is False  # a secret-authenticated grant: refresh tokens are not rotated


def test_the_playlist_scope_is_asked_for_only_when_wanted_and_then_kept(
    tmp_path: Path, emu: Emulator
) -> None:
    settings = make_settings(tmp_path, None)
    opened: list[str] = []

    def open_url(url: str) -> None:
        opened.append(url)
        threading.Thread(target=_approve_in_emulator, args=(emu, url)).start()

    def scope_asked(url: str) -> set[str]:
        return set(dict(httpx.URL(url).params)["scope"].split())

    transport = emu.transport()
    plain = authorise(settings, emu.clock, open_url, port=0, transport=transport, timeout=10)
    assert scope_asked(opened[-1]) == {"user-read-recently-played"}
    assert plain.tokens.scope == "user-read-recently-played"
    wider = authorise(
        settings,
        emu.clock,
        open_url,
        port=0,
        transport=transport,
        timeout=10,
        extra_scopes=["playlist-modify-private"],
    )
    assert scope_asked(opened[-1]) == {"user-read-recently-played", "playlist-modify-private"}
    assert set(wider.tokens.scope.split()) == {"user-read-recently-played", "playlist-modify-private"}
    # Authorising again without asking keeps the grant already given (incremental authorisation).
    authorise(settings, emu.clock, open_url, port=0, transport=transport, timeout=10)
    assert "playlist-modify-private" in scope_asked(opened[-1])
    # And refreshes (every sync) keep it too.
    emu.clock.advance(timedelta(hours=2))
    client = connect(settings, emu.clock, transport=transport)
    try:
        client.me()
        assert isinstance(client.tokens, TokenManager)
        assert "playlist-modify-private" in client.tokens.tokens.scope.split()
    finally:
        client.http.close()


def test_auth_scope_option_is_offered(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["auth", "--scope", "everything"])
    assert result.exit_code == 2 and "'playlist'" in result.stderr
