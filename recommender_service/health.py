"""Liveness, readiness (PostgreSQL and Redis reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from recommender_service.errors import error_response
from shared.http_errors import error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="PostgreSQL and Redis are reachable",
    responses=error_responses(503),
)
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    failures = []
    try:
        async with asyncio.timeout(2):
            async with state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:
        failures.append(f"postgresql: {type(exc).__name__}")
    try:
        async with asyncio.timeout(2):
            await state.redis.ping()
    except Exception as exc:
        failures.append(f"redis: {type(exc).__name__}")
    if failures:
        return error_response(503, "not_ready", "; ".join(failures), {"failures": failures})
    return JSONResponse({"status": "ready", "model_version": state.serving.holder.version_id})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
