"""The emulator's playlist writes: Create Playlist and Add Items, shaped and scoped as the OpenAPI says."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from brapped.emulator import DEFAULT_SCOPE, EmulatedClock, Emulator
from tests.emulator.conftest import START, spec_for, validate, web_client

PRIVATE = DEFAULT_SCOPE + " playlist-modify-private"


def _emu(mode: str) -> Emulator:
    return Emulator(seed=42, mode=mode, clock=EmulatedClock(START))


def _uris(emu: Emulator, n: int) -> list[str]:
    return [f"spotify:track:{tid}" for tid in sorted(emu.catalogue.tracks)[:n]]


def test_create_private_playlist_and_add_items_in_order(mode: str) -> None:
    emu = _emu(mode)
    with web_client(emu, emu.issue_access_token(scope=PRIVATE)) as client:
        made = client.post("/me/playlists", json={"name": "Your Top Songs", "public": False})
        assert made.status_code == 201, made.text
        body = made.json()
        validate(mode, "PlaylistObject", body)
        assert body["public"] is False and body["name"] == "Your Top Songs"
        assert body["owner"]["id"] == emu.listener.user_id
        assert ("tracks" in body) == (mode == "extended")  # deprecated: development mode leaves it out
        uris = _uris(emu, 150)
        first = client.post(f"/playlists/{body['id']}/items", json={"uris": uris[:100]})
        second = client.post(f"/playlists/{body['id']}/items", json={"uris": uris[100:]})
        assert first.status_code == second.status_code == 201
        validate(mode, "PlaylistSnapshotId", first.json())
        assert first.json()["snapshot_id"] != second.json()["snapshot_id"]
        # Inserted at a position, ahead of the others.
        front = client.post(f"/playlists/{body['id']}/items", json={"uris": uris[149:], "position": 0})
        assert front.status_code == 201
    assert emu.playlists.made[body["id"]].items == uris[149:] + uris
    assert emu.counters["POST /v1/playlists/{id}/items"] == 3


def test_scope_is_enforced() -> None:
    emu = _emu("development")
    with web_client(emu) as client:  # the default scope: no playlist grant
        refused = client.post("/me/playlists", json={"name": "x", "public": False})
        assert refused.status_code == 403
        assert refused.json() == {"error": {"status": 403, "message": "Insufficient client scope"}}
        # Public by default, which needs playlist-modify-public.
        assert client.post("/me/playlists", json={"name": "x"}).status_code == 403
    with web_client(emu, emu.issue_access_token(scope=PRIVATE)) as client:
        playlist = client.post("/me/playlists", json={"name": "x", "public": False}).json()
    with web_client(emu) as client:
        added = client.post(f"/playlists/{playlist['id']}/items", json={"uris": _uris(emu, 1)})
        assert added.status_code == 403
    assert emu.playlists.made[playlist["id"]].items == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"public": False}, 400, "Missing required field: name"),
        ({"name": "x", "public": "no"}, 400, "Invalid request"),
        (
            {"name": "x", "public": True, "collaborative": True},
            400,
            "Collaborative playlists can only be private.",
        ),
    ],
)
def test_create_refuses_bad_bodies(body: dict[str, object], status: int, message: str) -> None:
    emu = _emu("development")
    token = emu.issue_access_token(scope=PRIVATE + " playlist-modify-public")
    with web_client(emu, token) as client:
        answer = client.post("/me/playlists", json=body)
    assert answer.status_code == status
    assert answer.json()["error"]["message"] == message


def test_add_items_limits_and_errors() -> None:
    emu = _emu("development")
    with web_client(emu, emu.issue_access_token(scope=PRIVATE)) as client:
        playlist = client.post("/me/playlists", json={"name": "x", "public": False}).json()
        path = f"/playlists/{playlist['id']}/items"
        too_many = client.post(path, json={"uris": _uris(emu, 101)})
        assert too_many.status_code == 400
        assert "maximum of 100" in too_many.json()["error"]["message"]
        assert client.post(path, json={"uris": ["spotify:track:nope"]}).status_code == 400
        unknown = client.post(path, json={"uris": ["spotify:track:" + "0" * 22]})
        assert unknown.json()["error"]["message"] == "Payload contains a non-existing ID"
        assert client.post(path, json={}).status_code == 400
        # The query string's uris win over the body's.
        one, two = _uris(emu, 2)
        assert client.post(path, params={"uris": two}, json={"uris": [one]}).status_code == 201
        assert client.post("/playlists/" + "1" * 22 + "/items", json={"uris": [one]}).status_code == 404
    assert emu.playlists.made[playlist["id"]].items == [two]


def test_playlist_writes_need_a_user_token() -> None:
    emu = _emu("development")
    response = emu.handle(
        httpx.Request("POST", "https://api.spotify.com/v1/me/playlists", json={"name": "x"})
    )
    assert response.status_code == 401


# -- generated requests ----------------------------------------------------------------------------

WRITES = (("/me/playlists", "OnePlaylist"), ("/playlists/{playlist_id}/items", "PlaylistSnapshotId"))


@pytest.mark.parametrize(("path", "component"), WRITES)
def test_generated_writes_get_spotify_shaped_answers(mode: str, path: str, component: str) -> None:
    """Bodies and parameters generated from the spec: a 201 validates against the operation's own
    answer, anything else is a 4xx with Spotify's error object; never a crash."""
    spec = copy.deepcopy(spec_for(mode))
    spec["paths"] = {path: {"post": spec["paths"][path]["post"]}}
    [result] = list(schemathesis.openapi.from_dict(spec).get_all_operations())
    operation = result.ok()
    emu = _emu(mode)
    token = emu.issue_access_token(scope=PRIVATE + " playlist-modify-public")
    with web_client(emu, token) as client:
        playlist = client.post("/me/playlists", json={"name": "mine", "public": False}).json()
    uris = _uris(emu, 3)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        # Half the time the generated playlist id, half the time one that exists.
        where = case.formatted_path
        if "{playlist_id}" in path and len(where) % 2:
            where = f"/playlists/{playlist['id']}/items"
        body = case.body if isinstance(case.body, dict) else None
        if body is not None and "{playlist_id}" in path and len(str(body)) % 2:
            body = {**body, "uris": uris}
        request = httpx.Request(
            "POST",
            httpx.URL(f"https://api.spotify.com/v1{where}", params=case.query or {}),
            headers={"Authorization": f"Bearer {token}"},
            json=body,
        )
        response = emu.handle(request)
        answer = response.json()
        if response.status_code == 201:
            validate(mode, component, answer)
        else:
            assert response.status_code in (400, 403, 404), (response.status_code, answer)
            assert set(answer) == {"error"} and answer["error"]["status"] == response.status_code
            assert isinstance(answer["error"]["message"], str) and answer["error"]["message"]

    check()
