"""The recommender's FastAPI application and its lifespan.

Everything that connects (engine, Redis, the model) is created in the lifespan and closed there;
the background tasks (stream consumer, model watcher, retrain scheduler) stop on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI

from recommender_service.api import models_router, serving_router, stats_router
from recommender_service.config import Settings, get_settings
from recommender_service.consumer.runner import make_consumer, run_forever
from recommender_service.errors import install_error_handlers
from recommender_service.health import router as health_router
from recommender_service.readmodel.service import Change
from recommender_service.security import ServiceKey
from recommender_service.serving.cache import ResultCache
from recommender_service.serving.holder import ModelHolder
from recommender_service.serving.service import Serving
from recommender_service.training.scheduler import BackgroundRuns
from shared.database import make_engine, make_sessionmaker
from shared.http_errors import error_responses

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import torch

        # Scoring is small matrix work: extra intra-op threads only add stalls on a busy host.
        torch.set_num_threads(settings.torch_threads)
        # Pre-ping: serving is read-mostly, and a restarted PostgreSQL must cost no request.
        engine = make_engine(settings.database_url, pre_ping=True)
        sessionmaker = make_sessionmaker(engine)
        redis = aioredis.from_url(settings.redis_url, decode_responses=True)
        holder = ModelHolder()
        serving = Serving(
            holder=holder, cache=ResultCache(redis, ttl_seconds=settings.cache_ttl_seconds),
            settings=settings,
        )  # fmt: skip
        runs = BackgroundRuns(sessionmaker=sessionmaker, redis=redis, settings=settings)

        async def invalidate(change: Change) -> None:
            if change.user_id is not None:
                await serving.cache.invalidate_user(change.user_id)
            if change.items_changed:
                await serving.cache.invalidate_all()

        consumer = (
            make_consumer(settings, redis=redis, sessionmaker=sessionmaker, on_change=invalidate)
            if settings.consumer_enabled
            else None
        )
        app.state.settings = settings
        app.state.engine, app.state.sessionmaker, app.state.redis = engine, sessionmaker, redis
        app.state.serving, app.state.runs, app.state.consumer = serving, runs, consumer

        with contextlib.suppress(Exception):  # no model yet, or the DB is still starting
            await holder.refresh(sessionmaker)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(
                holder.watch(
                    redis=redis,
                    sessionmaker=sessionmaker,
                    poll_seconds=settings.model_poll_seconds,
                    stop=stop,
                )
            )
        ]
        if consumer is not None:
            tasks.append(
                asyncio.create_task(
                    run_forever(consumer, settings, sessionmaker=sessionmaker, stop=stop)
                )
            )
        if settings.auto_retrain_enabled:
            tasks.append(asyncio.create_task(runs.run_scheduler(stop)))
        try:
            yield
        finally:
            stop.set()
            await runs.close()
            # One short grace for all, then cancel: unacked entries are redelivered.
            _, late = await asyncio.wait(tasks, timeout=1.0)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="épreuves-reco recommender",
        version="1.0.0",
        description=(
            "Personalised and similar épreuves from a Neural Collaborative Filtering model, "
            "kept up to date from the catalog's event stream. Every /v1 call needs the "
            "`X-Service-Key` header."
        ),
        lifespan=lifespan,
    )
    install_error_handlers(app)
    v1 = APIRouter(
        prefix="/v1", dependencies=[ServiceKey], responses=error_responses(400, 401, 422, 503)
    )
    v1.include_router(serving_router.router)
    v1.include_router(models_router.router)
    v1.include_router(stats_router.router)
    app.include_router(v1)
    app.include_router(health_router)
    return app
