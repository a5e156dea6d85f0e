"""Injected faults, the rolling rate limit, request counters and the admin endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from brapped.emulator import DEFAULT_CLIENT_ID, EmulatedClock, Emulator, Fault
from tests.emulator.conftest import START, accounts_client, web_client

RECENT = "/v1/me/player/recently-played"


def test_5xx_fires_count_times_then_recovers(emu: Emulator) -> None:
    emu.faults.add(Fault(kind="5xx", path=RECENT, count=2, status=502))
    with web_client(emu) as api:
        statuses = [api.get("/me/player/recently-played").status_code for _ in range(3)]
        assert api.get("/me").status_code == 200
        failed = emu.faults.pending()
    assert statuses == [502, 502, 200]
    assert failed == []
    assert emu.counters["GET /v1/me/player/recently-played"] == 3
    assert emu.counters["GET /v1/me"] == 1


def test_5xx_body_is_spotifys_error_object(emu: Emulator) -> None:
    emu.faults.add(Fault(kind="5xx"))
    with web_client(emu) as api:
        response = api.get("/me")
    assert response.json() == {"error": {"status": 503, "message": "Service unavailable"}}


def test_drop_raises_a_protocol_error_in_process(emu: Emulator) -> None:
    emu.faults.add(Fault(kind="drop", path=RECENT))
    with web_client(emu) as api, pytest.raises(httpx.RemoteProtocolError):
        api.get("/me/player/recently-played")
    with web_client(emu) as api:
        assert api.get("/me/player/recently-played").status_code == 200


def test_slow_times_out_or_advances_the_clock(emu: Emulator) -> None:
    emu.faults.add(Fault(kind="slow", delay=30.0))
    with web_client(emu) as api:
        with pytest.raises(httpx.ReadTimeout):
            api.get("/me", timeout=5.0)
        assert emu.clock.now() == START + timedelta(seconds=5)
        emu.faults.add(Fault(kind="slow", delay=2.0))
        assert api.get("/me", timeout=5.0).status_code == 200
    assert emu.clock.now() == START + timedelta(seconds=7)


def test_401_fault_looks_like_an_expired_token(emu: Emulator) -> None:
    emu.faults.add(Fault(kind="401"))
    with web_client(emu) as api:
        first, second = api.get("/me"), api.get("/me")
    assert (first.status_code, first.json()) == (
        401,
        {"error": {"status": 401, "message": "The access token expired"}},
    )
    assert second.status_code == 200


def test_invalid_grant_fault_hits_the_token_endpoint_only(emu: Emulator) -> None:
    emu.faults.add(Fault(kind="invalid_grant"))
    token = emu.issue_refresh_token()
    with web_client(emu) as api:
        assert api.get("/me").status_code == 200  # not consumed by a Web API call
    with accounts_client(emu) as client:
        form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": DEFAULT_CLIENT_ID}
        refused = client.post("/api/token", data=form)
        assert (refused.status_code, refused.json()) == (
            400,
            {"error": "invalid_grant", "error_description": "Refresh token revoked"},
        )
        # The fault is response-only: the token itself was not revoked.
        assert client.post("/api/token", data=form).status_code == 200


def test_429_with_a_huge_retry_after(emu: Emulator) -> None:
    emu.faults.add(Fault(kind="429", path=RECENT))
    with web_client(emu) as api:
        response = api.get("/me/player/recently-played")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "74214"
    assert response.json() == {"error": {"status": 429, "message": "API rate limit exceeded"}}


def test_unknown_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault(kind="explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Fault(kind="5xx", status=404)


def test_rolling_rate_limit(clock: EmulatedClock) -> None:
    emu = Emulator(seed=42, clock=clock, rate_limit=5, rate_window=30)
    with web_client(emu) as api:
        assert [api.get("/me").status_code for _ in range(5)] == [200] * 5
        clock.advance(10)
        limited = api.get("/me")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "20"  # the oldest request leaves the window 20 s later
        clock.advance(20)
        assert api.get("/me").status_code == 200
    assert emu.counters["GET /v1/me"] == 7
    assert emu.counters.v1_total == 7


def test_default_budget_is_generous(emu: Emulator) -> None:
    with web_client(emu) as api:
        assert {api.get("/me/player/recently-played").status_code for _ in range(300)} == {200}


def test_counters_reset_and_key_by_route(emu: Emulator) -> None:
    track = next(iter(emu.catalogue.tracks))
    with web_client(emu) as api:
        api.get(f"/tracks/{track}")
        api.get(f"/tracks/{track}")
    with accounts_client(emu) as client:
        client.post("/api/token", data={"grant_type": "client_credentials"})
    assert dict(emu.counters) == {"GET /v1/tracks/{id}": 2, "POST /api/token": 1}
    assert emu.counters.v1_total == 2
    assert "GET /v1/me" not in emu.counters and emu.counters["GET /v1/me"] == 0
    emu.counters.reset()
    assert dict(emu.counters) == {}


def test_admin_endpoints(emu: Emulator) -> None:
    with httpx.Client(transport=emu.transport(), base_url="http://127.0.0.1:1") as admin:
        assert admin.get("/_admin/clock").json() == {"now": "2026-01-15T12:00:00Z"}
        assert admin.post("/_admin/clock", json={"advance": 90}).json() == {"now": "2026-01-15T12:01:30Z"}
        moved = admin.post("/_admin/clock", json={"set": "2026-03-01T00:00:00Z"}).json()
        assert moved == {"now": "2026-03-01T00:00:00Z"}
        assert emu.clock.now() == datetime(2026, 3, 1, tzinfo=UTC)
        assert admin.post("/_admin/clock", json={"advance": -5}).status_code == 400
        added = admin.post("/_admin/faults", json={"kind": "429", "retry_after": 7, "path": RECENT}).json()
        assert added["faults"][0]["kind"] == "429"
        assert admin.post("/_admin/faults", json={"kind": "nope"}).status_code == 400
        token = admin.post("/_admin/refresh-token", json={"pkce": True}).json()["refresh_token"]
        assert token.startswith("AQ")
        with web_client(emu) as api:
            assert api.get("/me/player/recently-played").headers["retry-after"] == "7"
        counters = admin.get("/_admin/counters").json()
        assert counters == {"counts": {"GET /v1/me/player/recently-played": 1}, "v1_total": 1}
        assert admin.delete("/_admin/counters").json() == {"counts": {}, "v1_total": 0}
        admin.post("/_admin/faults", json={"kind": "5xx"})
        assert admin.delete("/_admin/faults").json() == {"faults": []}
