"""JSON for the API, written exactly as the CLI's `--format json` writes it."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from brapped.serialise import json_bytes


def dumps(data: Any) -> bytes:
    """Compact JSON with the CLI's conventions (UTC instants end in Z, dates are ISO days)."""
    return json_bytes(data)


def jsonable(data: Any) -> Any:
    """`data` as plain JSON types (for templates that hand data to the page's scripts)."""
    return orjson.loads(dumps(data))


class DataResponse(Response):
    """A JSON response rendered with `dumps`."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
