"""Wiring the consumer: the background task of the service, `consume` alone, and the one-shot
sync before a CLI training run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.consumer.bootstrap import BootstrapError, bootstrap, needs_bootstrap
from recommender_service.consumer.stream import OnChange, StreamConsumer

log = logging.getLogger(__name__)

BOOTSTRAP_RETRY_SECONDS = 15.0


def make_consumer(
    settings: Settings,
    *,
    redis: aioredis.Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
    on_change: OnChange | None = None,
    name: str | None = None,
) -> StreamConsumer:
    return StreamConsumer(
        redis=redis,
        sessionmaker=sessionmaker,
        stream=settings.events_stream,
        group=settings.consumer_group,
        name=name or settings.consumer_name,
        max_deliveries=settings.max_deliveries,
        claim_idle_ms=settings.claim_idle_ms,
        block_ms=settings.consumer_block_ms,
        batch=settings.consumer_batch,
        on_change=on_change,
    )


async def bootstrap_needed(
    settings: Settings,
    *,
    redis: aioredis.Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> bool:
    async with sessionmaker() as session:
        return await needs_bootstrap(
            session=session,
            redis=redis,
            stream=settings.events_stream,
            group=settings.consumer_group,
        )


async def try_bootstrap(
    settings: Settings,
    *,
    redis: aioredis.Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
    wait_seconds: float = 0.0,
    check: bool = True,
) -> dict[str, int] | None:
    """Bootstraps if needed; None when not needed. Retries an unreachable catalog for a while."""
    if not settings.bootstrap_enabled:
        return None
    if check and not await bootstrap_needed(settings, redis=redis, sessionmaker=sessionmaker):
        return None
    deadline = time.monotonic() + wait_seconds
    async with httpx.AsyncClient(base_url=settings.catalog_url, timeout=30.0) as client:
        while True:
            try:
                return await bootstrap(
                    client=client,
                    sessionmaker=sessionmaker,
                    redis=redis,
                    stream=settings.events_stream,
                    group=settings.consumer_group,
                    service_key=settings.service_api_key.get_secret_value(),
                    page_size=settings.bootstrap_page_size,
                )
            except BootstrapError:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(1.0)


async def sync_once(
    settings: Settings,
    *,
    redis: aioredis.Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> int:
    """Bootstrap when needed, then drain the stream once: the read model is up to date."""
    try:
        await try_bootstrap(
            settings,
            redis=redis,
            sessionmaker=sessionmaker,
            wait_seconds=settings.bootstrap_timeout_seconds,
        )
    except BootstrapError as exc:
        log.warning("bootstrap failed (%s); training on what the stream holds", exc)
    consumer = make_consumer(settings, redis=redis, sessionmaker=sessionmaker)
    await consumer.ensure_group()
    return await consumer.drain()


async def run_forever(
    consumer: StreamConsumer,
    settings: Settings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    stop: asyncio.Event,
) -> None:
    """Bootstrap (retried in the background until it succeeds), and consume until `stop`.

    The need is judged before consuming starts: once events flow the read model is no longer
    empty, yet the history before them would still be missing.
    """
    pending_bootstrap = settings.bootstrap_enabled
    with contextlib.suppress(Exception):
        pending_bootstrap = pending_bootstrap and await bootstrap_needed(
            settings, redis=consumer.redis, sessionmaker=sessionmaker
        )
    next_try = 0.0
    consume = asyncio.create_task(consumer.run(stop))
    try:
        while pending_bootstrap and not stop.is_set():
            if time.monotonic() >= next_try:
                try:
                    await try_bootstrap(
                        settings, redis=consumer.redis, sessionmaker=sessionmaker, check=False
                    )
                    pending_bootstrap = False
                except Exception as exc:
                    log.warning("bootstrap failed (%s); retrying", exc)
                    next_try = time.monotonic() + BOOTSTRAP_RETRY_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        await consume
    finally:
        consume.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consume
