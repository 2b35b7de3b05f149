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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

FastHandler = Callable[[Request], Awaitable[Response | None]]
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
