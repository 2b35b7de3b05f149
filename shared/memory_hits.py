"""The ASGI shell that answers a GET straight from a process's memory, before routing.

Each service gives the lookup (`Lookup`: the request's scope to the bytes it would answer, or
None to let the app handle the request as usual); this middleware owns the rest: only HTTP
GETs are looked up, and a hit is one 200 JSON response of those bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Lookup = Callable[[Scope], bytes | None]

# An id as the routes' path parameters take it (no sign, no leading zero), so that a cache scope
# named from the raw path is the route's own scope.
ID_PATTERN = r"[1-9][0-9]{0,18}"
_ID = re.compile(ID_PATTERN)
_MAX_ID = 2**63 - 1  # BIGINT


def canonical_id(text: str) -> int | None:
    """The id `text` spells canonically within BIGINT, or None."""
    if _ID.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= _MAX_ID else None


class MemoryHits:
    def __init__(self, app: ASGIApp, lookup: Lookup) -> None:
        self.app = app
        self.lookup = lookup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            body = self.lookup(scope)
            if body is not None:
                await send(_start(len(body)))
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _start(length: int) -> Message:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(length).encode())]
    return {"type": "http.response.start", "status": 200, "headers": headers}
