"""Schemathesis-generated requests for every emulated endpoint: never a crash, always Spotify-shaped.

Each operation's parameters come from the spec. A 200 must validate against the operation's own
200 response schema; anything else must be a 4xx with Spotify's error object.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from brapped.emulator import EmulatedClock, Emulator
from tests.emulator.conftest import START, spec_for, validate

OPERATIONS = (
    "/me",
    "/me/player/recently-played",
    "/tracks/{id}",
    "/tracks",
    "/artists/{id}",
    "/artists",
    "/albums/{id}",
    "/albums",
    "/albums/{id}/tracks",
    "/search",
)


@functools.cache
def _schema(mode: str) -> Any:
    spec = copy.deepcopy(spec_for(mode))
    spec["paths"] = {p: {"get": spec["paths"][p]["get"]} for p in OPERATIONS}
    return schemathesis.openapi.from_dict(spec)


@functools.cache
def _emulator(mode: str) -> tuple[Emulator, str]:
    emu = Emulator(seed=5, mode=mode, clock=EmulatedClock(START))
    return emu, emu.issue_access_token()


def _operation(mode: str, path: str) -> Any:
    for result in _schema(mode).get_all_operations():
        operation = result.ok()
        if operation.path == path:
            return operation
    raise LookupError(path)


@pytest.mark.parametrize("path", OPERATIONS)
def test_generated_requests_get_spotify_shaped_answers(mode: str, path: str) -> None:
    operation = _operation(mode, path)
    ok_ref = operation.definition.raw["responses"]["200"]["$ref"]
    component = ok_ref.rsplit("/", 1)[1]
    emu, token = _emulator(mode)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        request = httpx.Request(
            "GET",
            httpx.URL(f"https://api.spotify.com/v1{case.formatted_path}", params=case.query or {}),
            headers={"Authorization": f"Bearer {token}"},
        )
        response = emu.handle(request)
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        if response.status_code == 200:
            validate(mode, component, body)
        else:
            assert response.status_code in (400, 403, 404), (response.status_code, body)
            assert set(body) == {"error"} and body["error"]["status"] == response.status_code
            assert isinstance(body["error"]["message"], str) and body["error"]["message"]

    check()
