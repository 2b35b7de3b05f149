"""`shared.fast_path.EarlyAnswers`: a route's fast handler tried before routing, on a small app
served over real HTTP semantics (httpx against the ASGI app)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import Response

from shared.fast_path import EARLY_MAX_BODY, EarlyAnswers
from shared.http_errors import ApiError, install_error_handlers


class _Refused(ApiError):
    status_code = 409
    code = "refused"


async def _fast(request: Request) -> Response | None:
    body = json.loads(await request.body())
    if body.get("refuse"):
        raise _Refused("Refused early")
    if body.get("fail"):
        raise RuntimeError("a bug in the fast handler")
    if body.get("decline"):
        return None
    return Response(b'{"by": "early"}', media_type="application/json")


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things")
    async def things(request: Request) -> dict[str, object]:
        return {"by": "route", "body": (await request.body()).decode()}

    route = next(r for r in app.routes if getattr(r, "path", None) == "/things")
    app.add_middleware(EarlyAnswers, routes={("POST", "/things"): (route, _fast)})

    @app.middleware("http")
    async def route_seen(request: Request, call_next):  # what the metrics above would read
        response = await call_next(request)
        response.headers["x-route"] = getattr(request.scope.get("route"), "path", "none")
        return response

    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_the_fast_handler_answers_before_routing_and_the_route_is_named(http) -> None:
    answer = await http.post("/things", json={})
    assert answer.json() == {"by": "early"}
    assert answer.headers["x-route"] == "/things"


async def test_a_declined_request_reaches_the_route_with_its_body(http) -> None:
    body = json.dumps({"decline": True})
    answer = await http.post("/things", content=body)
    assert answer.json() == {"by": "route", "body": body}


async def test_a_body_sent_in_chunks_is_read_whole_and_replayed(http) -> None:
    parts = [b'{"decline": ', b"true, ", b'"n": 1}']

    async def chunks() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    length = str(sum(map(len, parts)))
    answer = await http.post("/things", content=chunks(), headers={"content-length": length})
    assert answer.json() == {"by": "route", "body": b"".join(parts).decode()}


@pytest.mark.parametrize("declared", [False, True], ids=["undeclared", "over-the-limit"])
async def test_a_body_not_declared_small_goes_down_unread(http, declared: bool) -> None:
    """The early handler would answer these ({} is not declined): the route does instead."""
    padding = " " * (EARLY_MAX_BODY if declared else 10)
    body = ("{}" + padding).encode()

    async def streamed() -> AsyncIterator[bytes]:
        yield body

    content = body if declared else streamed()
    answer = await http.post("/things", content=content)
    assert answer.json() == {"by": "route", "body": body.decode()}


async def test_what_the_fast_handler_raises_is_answered_by_the_apps_handlers(http) -> None:
    refused = await http.post("/things", json={"refuse": True})
    assert refused.status_code == 409
    assert refused.json() == {"code": "refused", "message": "Refused early", "details": None}
    assert refused.headers["x-route"] == "/things"
    failed = await http.post("/things", json={"fail": True})
    assert failed.status_code == 500
    assert failed.json()["code"] == "internal_error"


async def test_other_methods_and_paths_are_left_alone(http) -> None:
    assert (await http.get("/things")).status_code == 405
    assert (await http.post("/other", json={})).status_code == 404
