"""What an emulator endpoint answers, before it becomes an httpx or ASGI response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson


@dataclass
class Reply:
    """Status, a JSON body or text, headers; `action` asks the transport to drop or delay it."""

    status: int
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    action: Literal["drop", "slow"] | None = None
    delay: float = 0.0

    def body(self) -> bytes:
        if self.text is not None:
            return self.text.encode("utf-8")
        if self.json is None:
            return b""
        return orjson.dumps(self.json)

    def header_items(self) -> list[tuple[str, str]]:
        items = list(self.headers.items())
        if self.json is not None and "content-type" not in self.headers:
            items.append(("content-type", "application/json; charset=utf-8"))
        return items


def api_error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    """A Web API error: `{"error": {"status": N, "message": "..."}}`."""
    return Reply(status, {"error": {"status": status, "message": message}}, headers=headers or {})
