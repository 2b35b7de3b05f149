"""What a recommender replica creates when it starts and closes when it stops, in that order.

1. torch's thread pool, the engine, Redis (one client for bytes: the cached answers), the
   serving state (model holder, result cache, in-memory item table and histories);
2. the training runs of this replica; runs whose owner died are failed before anything trains;
3. the stream consumer, whose read-model changes retire cached answers and move this
   replica's histories along (`ResultCache.forget`);
4. the active model, if there is one yet;
5. the background tasks: model watcher, the result cache's change notices (and the other
   replicas' history swaps, `history_feed`, on the same subscription), consumer, scheduler
   (reaping and retraining).
At shutdown: the tasks stop (one short grace, then cancelled: unacknowledged entries are
redelivered), this replica's runs are cancelled, the answers still being stored in Redis are
written (`shared.write_behind`), Redis and the engine are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
import torch
from fastapi import FastAPI

from recommender_service.config import Settings
from recommender_service.consumer.runner import make_consumer, run_forever
from recommender_service.serving.cache import ResultCache
from recommender_service.serving.history import Histories
from recommender_service.serving.holder import ModelHolder
from recommender_service.serving.items import ItemStore
from recommender_service.serving.service import Serving
from recommender_service.training.scheduler import BackgroundRuns
from shared.database import make_engine, make_sessionmaker
from shared.heap import freeze_startup_objects

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 1.0
MEMORY_START_SECONDS = 2.0


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # Scoring is small matrix work: extra intra-op threads only add stalls on a busy host.
    torch.set_num_threads(settings.torch_threads)
    # Pre-ping: serving is read-mostly, and a restarted PostgreSQL must cost no request.
    engine = make_engine(settings.database_url, pre_ping=True)
    sessionmaker = make_sessionmaker(engine)
    redis = aioredis.from_url(settings.redis_url, decode_responses=True)
    raw_redis = aioredis.from_url(settings.redis_url)
    histories = Histories(
        sessionmaker,
        max_users=settings.history_cache_users,
        rotation_after=settings.rotation_after if settings.rotation_factor < 1 else None,
        rotation_refresh_seconds=settings.rotation_refresh_seconds,
    )
    cache = ResultCache(
        raw_redis,
        ttl_seconds=settings.cache_ttl_seconds,
        memory_entries=settings.memory_cache_entries,
        histories=histories,
    )
    serving = Serving(
        holder=ModelHolder(),
        cache=cache,
        items=ItemStore(
            sessionmaker,
            half_life_days=settings.popularity_half_life_days,
            refresh_seconds=settings.item_table_refresh_seconds,
        ),
        histories=histories,
        settings=settings,
    )

    runs = BackgroundRuns(sessionmaker=sessionmaker, redis=redis, settings=settings)
    with contextlib.suppress(Exception):  # the database may still be starting: the scheduler reaps
        await runs.reap()

    consumer = None
    if settings.consumer_enabled:
        consumer = make_consumer(
            settings, redis=redis, sessionmaker=sessionmaker, on_change=cache.forget
        )

    app.state.engine, app.state.sessionmaker, app.state.redis = engine, sessionmaker, redis
    app.state.serving, app.state.runs, app.state.consumer = serving, runs, consumer
    with contextlib.suppress(Exception):  # no model yet, or the database is still starting
        await serving.holder.refresh(sessionmaker)
        await serving.holder.refresh_experiment(sessionmaker)

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(
            serving.holder.watch(
                redis=redis,
                sessionmaker=sessionmaker,
                poll_seconds=settings.model_poll_seconds,
                stop=stop,
            )
        ),
        asyncio.create_task(cache.memory.run(stop)),
        asyncio.create_task(runs.run_scheduler(stop)),
    ]
    if consumer is not None:
        tasks.append(
            asyncio.create_task(
                run_forever(consumer, settings, sessionmaker=sessionmaker, stop=stop)
            )
        )
    # Its memory layer serves once subscribed to the change notices: usually at once.
    await cache.memory.wait_live(MEMORY_START_SECONDS)
    freeze_startup_objects()
    try:
        yield
    finally:
        stop.set()
        await runs.close()
        _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await cache.writes.drain()
        await redis.aclose()
        await raw_redis.aclose()
        await engine.dispose()
