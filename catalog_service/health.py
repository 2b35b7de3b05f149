"""/healthz (alive), /readyz (PostgreSQL and Redis reachable), /metrics (Prometheus)."""

import asyncio
import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http_errors import error_responses

REQUESTS = Counter("catalog_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "catalog_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CHECK_TIMEOUT_S = 2.0

router = APIRouter(tags=["operations"])


@router.get("/healthz", name="healthz")
async def healthz() -> dict[str, str]:
    """The process is up (no dependency is checked)."""
    return {"status": "ok"}


async def _check_postgres(request: Request) -> None:
    async with request.app.state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis(request: Request) -> None:
    await request.app.state.redis.ping()


@router.get("/readyz", name="readyz", responses=error_responses(503))
async def readyz(request: Request) -> JSONResponse:
    """200 when PostgreSQL and Redis answer within 2 s each, else 503 naming the failing one."""
    checks: dict[str, str] = {}
    for name, check in (("postgres", _check_postgres), ("redis", _check_redis)):
        try:
            await asyncio.wait_for(check(request), CHECK_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready", never a 500
            checks[name] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ready" if ready else "unavailable", "checks": checks}
    if not ready:
        body = {"code": "unavailable", "message": "dependency unreachable", "details": body}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", name="metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts and times requests per route template (`/v1/epreuves/{epreuve_id}`), so that
    label cardinality stays bounded whatever paths clients send."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Bounded like the series: methods x route templates x statuses.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            key = (scope["method"], template, status)
            children = self._children.get(key)
            if children is None:  # `labels` validates and locks: once per series, not request
                method = scope["method"]
                children = (
                    REQUESTS.labels(method, template, str(status)),
                    LATENCY.labels(method, template),
                )
                self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - start)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.add_middleware(MetricsMiddleware)
