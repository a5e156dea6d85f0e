"""JSON for the API, written exactly as the CLI's `--format json` writes it."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from brapped.serialise import json_bytes


def jsonable(data: Any) -> Any:
    """`data` as plain JSON types (for templates that hand data to the page's scripts)."""
    return orjson.loads(json_bytes(data))


class DataResponse(Response):
    """A JSON response in brapped's one JSON form (`brapped.serialise.json_bytes`)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json_bytes(content)
