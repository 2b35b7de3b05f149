"""Refuses request bodies announced larger than the upload limit before they are read."""

from starlette.types import ASGIApp, Receive, Scope, Send

from catalog_service.errors import error_response

# Room for the multipart framing and form fields around the file.
FRAMING_BYTES = 64 * 1024


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + FRAMING_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_bytes:
                response = error_response(
                    413,
                    "too_large",
                    f"The request body exceeds {self.max_bytes} bytes",
                    {"max_bytes": self.max_bytes},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
