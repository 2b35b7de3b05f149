"""Domain exceptions and the one place that turns every error into the same JSON shape.

Every 4xx/5xx body is `{"code": "...", "message": "...", "details": ...}`; services raise the
exceptions below and never build HTTP responses themselves.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers
        if code is not None:
            self.code = code


class BadRequest(DomainError):
    status_code = 400
    code = "bad_request"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "Not authenticated", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class TooLarge(DomainError):
    status_code = 413
    code = "too_large"


class UnsupportedMedia(DomainError):
    status_code = 415
    code = "unsupported_media_type"


class Invalid(DomainError):
    """Semantically invalid input that pydantic could not catch (422, like validation errors)."""

    status_code = 422
    code = "validation_error"


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many attempts, retry later",
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class Unavailable(DomainError):
    status_code = 503
    code = "unavailable"


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"code": code, "message": message, "details": details}
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "email") → "email"; ("query", "limit") → "limit"; keep nested paths dotted.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            "field": _field(err.get("loc", ())),
            "message": err.get("msg", ""),
            "type": err.get("type"),
        }
        for err in exc.errors()
    ]
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}"
    return error_response(422, "validation_error", message, details)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error" if exc.status_code >= 500 else "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, message, None, headers)


_CONNECTION_ERRORS = (DBAPIError, SQLAlchemyTimeoutError, RedisConnectionError, OSError)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # A lost or unreachable database/Redis connection: the client may retry, nothing was lost.
    # The pool runs without pre-ping (a round trip per request), so a connection that died with
    # its server surfaces here once, then the pool reconnects.
    unavailable = not isinstance(exc, DBAPIError) or exc.connection_invalidated
    if isinstance(exc, _CONNECTION_ERRORS) and unavailable:
        logger.warning("dependency unavailable on %s %s: %r", request.method, request.url.path, exc)
        return error_response(
            503, "service_unavailable", "A dependency is unavailable, retry shortly",
            None, {"Retry-After": "1"},
        )  # fmt: skip
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Connection errors are answered by the exception middleware (a 503, not re-raised).
    for exc_class in _CONNECTION_ERRORS:
        app.add_exception_handler(exc_class, _unexpected_error)
    app.add_exception_handler(Exception, _unexpected_error)
