"""The response class both services send prepared JSON bytes with (cached answers, served as
they are, serialised once)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


class JSONBytes(JSONResponse):
    """A JSON body serialised already. A JSONResponse subclass, so that a route declaring it
    still documents its response model in OpenAPI."""

    def render(self, content: Any) -> bytes:
        assert isinstance(content, bytes)
        return content
