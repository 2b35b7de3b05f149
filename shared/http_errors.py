"""The one JSON error shape of both services, and the one place that produces it.

Every 4xx/5xx body is `{"code": "...", "message": "...", "details": ...}`. Services raise
`ApiError` subclasses and never build error responses themselves; `install_error_handlers`
maps everything else (validation, routing, a dependency that is down, a bug) to that shape.

A dependency that cannot be reached (PostgreSQL restarting or gone, a pool exhausted, Redis
down) is a 503 with `Retry-After`, never a 500: the client may retry and nothing was written.
It is recognised by exception class and SQLSTATE, never by message text.

No error closes the client's keep-alive connection. Starlette sends handlers of `Exception`
through its outermost ServerErrorMiddleware, which answers and then re-raises, and uvicorn
closes the socket of a request whose app raised. `CatchAllMiddleware` answers unexpected
errors inside the stack instead, and swallows them once the answer is sent.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 1


class ErrorBody(BaseModel):
    """What every 4xx/5xx answers."""

    code: str = Field(description="Machine-readable, e.g. `validation_error`, `not_found`")
    message: str = Field(description="For humans; a 422 names the field first")
    details: Any = Field(
        default=None,
        description="A 422 lists `{field, message, type}` per problem; other codes may add data",
    )


class ApiError(Exception):
    """A failure a service means to answer as is: status, code, message, details, headers."""

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


class BadRequest(ApiError):
    status_code = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class TooLarge(ApiError):
    status_code = 413
    code = "too_large"


class UnsupportedMedia(ApiError):
    status_code = 415
    code = "unsupported_media_type"


class Invalid(ApiError):
    """Semantically invalid input that pydantic could not catch (422, like validation errors)."""

    status_code = 422
    code = "validation_error"


class RateLimited(ApiError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many attempts, retry later",
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class Unavailable(ApiError):
    status_code = 503
    code = "service_unavailable"

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(RETRY_AFTER_S)})
        super().__init__(message, **kwargs)


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

_DESCRIPTIONS = {
    400: "Bad request: a body that cannot be parsed",
    401: "Missing or invalid credentials",
    403: "Authenticated, but not allowed",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input: `details` names each field",
    429: "Too many attempts: retry after `Retry-After` seconds",
    503: "A dependency is unavailable: retry after `Retry-After` seconds",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` documenting these error statuses with the error schema."""
    return {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses
    }


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"code": code, "message": message, "details": details}
    return JSONResponse(body, status_code=status, headers=headers)


# Class 08 is "connection exception"; 57P01-57P03: admin/crash shutdown, cannot connect now
# (starting up, shutting down, not yet accepting connections); 53300: too many connections.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        stack += [orig if isinstance(orig, BaseException) else None]
        # Explicit causes only: an error raised while handling an OSError is not one.
        stack += [current.__cause__]


def is_unavailable(exc: BaseException) -> bool:
    """A dependency could not be reached or dropped the connection (retry may succeed)."""
    for cause in _chain(exc):
        if isinstance(cause, PoolTimeoutError | RedisConnectionError | RedisTimeoutError):
            return True
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError):
            return True
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
        ):
            return True
        # Connect refused or reset, host unreachable, socket timeout.
        if isinstance(cause, OSError):
            return True
    return False


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "email") → "email"; ("query", "limit") → "limit"; keep nested paths dotted.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_details(errors: Any) -> list[dict[str, Any]]:
    return [
        {"field": _field(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
        for e in errors
    ]


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = validation_details(exc.errors())
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    return error_response(422, "validation_error", f"{first['field']}: {first['message']}", details)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error" if exc.status_code >= 500 else "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, message, None, headers)


def unexpected_error_response(scope: Scope, exc: BaseException) -> JSONResponse:
    """503 for an unreachable dependency, else a logged 500 that shows no internals."""
    where = f"{scope.get('method')} {scope.get('path')}"
    if is_unavailable(exc):
        logger.warning("dependency unavailable on %s: %r", where, exc)
        return error_response(
            503, "service_unavailable", "A dependency is unavailable, retry shortly", None,
            {"Retry-After": str(RETRY_AFTER_S)},
        )  # fmt: skip
    logger.error("unhandled error on %s", where, exc_info=exc)
    return error_response(500, "internal_error", "Internal server error")


class CatchAllMiddleware:
    """Answers any exception that escaped the handlers, without re-raising (see the module
    docstring: a re-raise makes uvicorn close the keep-alive connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if not started:
                await unexpected_error_response(scope, exc)(scope, receive, send)
            elif finished:
                # A clean-up failed after the answer went out: log it, keep the connection.
                logger.warning("error after the response on %s: %r", scope.get("path"), exc)
            else:
                raise  # half a body sent: only closing the connection tells the client


async def error_answer(request: Request, exc: Exception) -> Response:
    """What the app answers to `exc` raised while handling `request` outside its exception
    middleware (`shared.fast_path.EarlyAnswers`): the app's handler for the nearest class of
    `exc` (those `install_error_handlers` adds), else what CatchAllMiddleware answers."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            response = handler(request, exc)
            response = await response if inspect.isawaitable(response) else response
            assert isinstance(response, Response)
            return response
    return unexpected_error_response(request.scope, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Every error of `app` in the one shape. Add other middleware after this call, so that
    they wrap the error answers too (CORS headers, metrics)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(CatchAllMiddleware)
