"""Emulator fixtures and a validator built from the shared OpenAPI spec's own schemas.

The spec is used as published, with two kinds of documented adjustments:
- errata that the REAL samples prove (the empty recently-played page has `cursors: null` and
  `next: null`; a play without context has `context: null`) or Spotify's reference states (batch
  lookups answer `null` for unknown ids): applied in both modes;
- development mode: every property the spec flags `deprecated` must be ABSENT (its schema becomes
  "not anything" and it leaves `required`), because Spotify removed those fields for such apps.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from brapped.emulator import EmulatedClock, Emulator
from tests.conftest import SAMPLES, SPEC

START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SPEC_URI = "urn:spotify-web-api"


@functools.cache
def _raw_spec() -> dict[str, Any]:
    with SPEC.open(encoding="utf-8") as fh:
        spec: dict[str, Any] = yaml.safe_load(fh)
    return spec


def _errata(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    cursor_paging = schemas["CursorPagingObject"]["properties"]
    cursor_paging["next"]["nullable"] = True
    cursor_paging["cursors"] = {
        "type": "object",
        "nullable": True,
        "properties": schemas["CursorObject"]["properties"],
    }
    play = schemas["PlayHistoryObject"]["properties"]
    play["context"] = {
        "type": "object",
        "nullable": True,
        "properties": schemas["ContextObject"]["properties"],
    }
    # Spotify's reference: objects come back in the order requested, and "if an object is not
    # found, a null value is returned in the appropriate position".
    responses = spec["components"]["responses"]
    for name, key in (("ManyTracks", "tracks"), ("ManyArtists", "artists"), ("ManyAlbums", "albums")):
        array = responses[name]["content"]["application/json"]["schema"]["properties"][key]
        array["items"] = {"anyOf": [array["items"], {"enum": [None]}]}


def _strip_deprecated(node: Any) -> None:
    """Development mode: deprecated properties must be absent."""
    if isinstance(node, dict):
        props = node.get("properties")
        deprecated: set[str] = set()
        if isinstance(props, dict):
            for name, prop in list(props.items()):
                if isinstance(prop, dict) and prop.get("deprecated"):
                    props[name] = {"not": {}}
                    deprecated.add(name)
        for part in node.get("allOf", []):
            if isinstance(part, dict) and isinstance(part.get("properties"), dict):
                deprecated |= {
                    n for n, p in part["properties"].items() if isinstance(p, dict) and p.get("deprecated")
                }
        if deprecated and isinstance(node.get("required"), list):
            node["required"] = [r for r in node["required"] if r not in deprecated]
        for value in node.values():
            _strip_deprecated(value)
    elif isinstance(node, list):
        for value in node:
            _strip_deprecated(value)


@functools.cache
def spec_for(mode: str) -> dict[str, Any]:
    """The spec with errata applied, and deprecated fields forbidden in development mode."""
    spec = copy.deepcopy(_raw_spec())
    _errata(spec)
    if mode == "development":
        _strip_deprecated(spec["components"]["schemas"])
    return spec


@functools.cache
def _registry(mode: str) -> Registry:  # type: ignore[type-arg]
    return Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec_for(mode), default_specification=DRAFT4)
    )


def validate(mode: str, component: str, payload: Any) -> None:
    """Validate against `#/components/schemas/NAME` or a response `#/components/responses/NAME`."""
    spec = spec_for(mode)
    if component in spec["components"]["schemas"]:
        ref = f"{SPEC_URI}#/components/schemas/{component}"
    else:
        ref = f"{SPEC_URI}#/components/responses/{component}/content/application~1json/schema"
    validator = OAS30Validator({"$ref": ref}, registry=_registry(mode))
    errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}"[:300] for e in errors[:10])


@pytest.fixture
def clock() -> EmulatedClock:
    return EmulatedClock(START)


@pytest.fixture(params=["development", "extended"])
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@functools.cache
def _shared(seed: int, mode: str) -> Emulator:
    # Catalogue generation is the slow part (~0.2 s): tests that only read share one per mode.
    return Emulator(seed=seed, mode=mode, clock=EmulatedClock(START))


@pytest.fixture
def emu(clock: EmulatedClock) -> Emulator:
    """A fresh development-mode emulator at START."""
    return Emulator(seed=42, clock=clock)


@pytest.fixture
def api(mode: str) -> Iterator[tuple[Emulator, httpx.Client]]:
    """A read-only emulator of `mode` (shared) and a Web API client holding a fresh user token."""
    shared = _shared(42, mode)
    shared.clock.set(START)
    shared.faults.clear()
    shared.counters.reset()
    shared.rate_limiter.reset()
    token = shared.issue_access_token()
    with httpx.Client(
        transport=shared.transport(),
        base_url="https://api.spotify.com/v1",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield shared, client


def web_client(emu: Emulator, token: str | None = None) -> httpx.Client:
    """An in-process Web API client for `emu` (a fresh user token unless one is given)."""
    return httpx.Client(
        transport=emu.transport(),
        base_url="https://api.spotify.com/v1",
        headers={"Authorization": f"Bearer {token or emu.issue_access_token()}"},
    )


def accounts_client(emu: Emulator) -> httpx.Client:
    return httpx.Client(transport=emu.transport(), base_url="https://accounts.spotify.com")


def load_sample(name: str) -> Any:
    import json

    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


Validate = Callable[[str, str, Any], None]
