"""A route whose common case skips FastAPI's per-request machinery, and whose every other case
is FastAPI's.

FastAPI's handler solves the dependency graph, parses and validates the body and re-validates
the returned model on every request: on `POST /v1/interactions` that is a quarter of the
catalog's CPU. A `fast_path(handler)` route gives its request to `handler` first; the handler
answers the common case with the same models and the same app errors (raised, rendered by the
app's handlers as the route's own would be), or returns None, before doing anything, for any
request it is not sure about (no token, an unusual content type, a body that does not validate),
which the route's FastAPI handler then answers: its errors, its validation, its documentation.
The route keeps its place in routing, in OpenAPI and in the metrics.

`EarlyAnswers` goes one step further for the hottest write: the same kind of handler, tried
before routing and the middleware below it (on `POST /v1/interactions`, FastAPI's routing and
route wrappers cost more CPU than the handler itself).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http_errors import error_answer

FastHandler = Callable[[Request], Awaitable[Response | None]]
EarlyRoute = tuple[BaseRoute, FastHandler]
QueryModel = TypeVar("QueryModel", bound=BaseModel)


def fast_path(handler: FastHandler) -> type[APIRoute]:
    """The route class (`route_class_override`) that tries `handler` before FastAPI's own."""

    class FastPathRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            framework = super().get_route_handler()

            async def answer(request: Request) -> Response:
                response = await handler(request)
                return response if response is not None else await framework(request)

            return answer

    return FastPathRoute


def plain_json(request: Request) -> bool:
    """Whether the body is declared `application/json` (parameters aside), which a fast path
    parses itself; FastAPI's handler answers any other content type its own way."""
    content_type = request.headers.get("content-type")
    return content_type is not None and (
        content_type.split(";", 1)[0].strip().lower() == "application/json"
    )


def single_params(request: Request, model: type[QueryModel]) -> QueryModel | None:
    """The query string validated by `model`, or None when a parameter repeats or does not
    validate: the route's FastAPI handler then says what is wrong."""
    params = request.query_params
    if len(params.multi_items()) != len(params):
        return None
    try:
        return model.model_validate(dict(params))
    except ValidationError:
        return None


# The largest body an early answer reads (an interaction is ~100 bytes); a larger or undeclared
# one goes down the stack unread.
EARLY_MAX_BODY = 16 * 1024


class EarlyAnswers:
    """ASGI middleware: the fast handlers of some routes, tried before the middleware below it
    and routing. FastAPI's routing, its route wrappers and the pass-through middleware below
    cost a request more CPU than the fast handler itself (profiled on POST /v1/interactions).

    `routes` maps (method, path) to the route (set as the request's `route`, which the metrics
    above read) and its fast handler. A request with a declared body of at most
    `EARLY_MAX_BODY` bytes is given to the handler; what it raises is answered by the app's own
    exception handlers (`shared.http_errors`), and a request it returns None for goes down the
    stack with its body, as if it had not been read.
    """

    def __init__(self, app: ASGIApp, *, routes: Mapping[tuple[str, str], EarlyRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        early = self.routes.get((scope.get("method", ""), scope.get("path", "")))
        body = None if early is None else await _declared_body(scope, receive)
        if early is None or body is None:
            await self.app(scope, receive, send)
            return
        route, handler = early
        request = Request(scope, _replaying(body, receive))
        try:
            response = await handler(request)
        except Exception as exc:
            response = await error_answer(request, exc)
        if response is None:
            await self.app(scope, _replaying(body, receive), send)
            return
        scope["route"] = route
        await response(scope, receive, send)


async def _declared_body(scope: Scope, receive: Receive) -> bytes | None:
    """The request's body when its length is declared and at most `EARLY_MAX_BODY`, else None
    (nothing read)."""
    length = dict(scope["headers"]).get(b"content-length")
    if length is None or not length.isdigit() or int(length) > EARLY_MAX_BODY:
        return None
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client left: nobody to answer
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` for a request whose body was read already: the body, then what follows."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
