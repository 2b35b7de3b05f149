"""Wiring the consumer: the background task of the service, `consume` alone, and the one-shot
sync before a CLI training run.

Start-up order matters (DESIGN §3, "Bootstrap"): first decide whether the history must come from
the catalog's export, then create the group, at the stream's end as the export saw it when
bootstrapping, at `0` otherwise. Several replicas (and the CLI) may start at once: the decision is
taken under a Redis lock, and the others wait for it before they consume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import httpx
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.consumer.bootstrap import BootstrapError, bootstrap, needs_bootstrap
from recommender_service.consumer.stream import OnChange, StreamConsumer
from recommender_service.readmodel.service import Change
from recommender_service.training.lock import TrainingLock

log = logging.getLogger(__name__)

BOOTSTRAP_RETRY_SECONDS = 15.0
BOOTSTRAP_LOCK_TTL_MS = 30_000  # renewed while held; a crashed holder frees it this fast
LOCK_POLL_SECONDS = 0.2


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
        idle_delete_ms=settings.consumer_idle_delete_ms,
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
    catalog: httpx.AsyncClient | None = None,
    on_change: OnChange | None = None,
) -> dict[str, int] | None:
    """Bootstraps if needed; None when not needed. Retries an unreachable catalog for a while.

    `catalog`: a client for the catalog's API (default: one on `settings.catalog_url`);
    `on_change` hears that everything changed once the history is in (replicas that served
    meanwhile must not keep what they computed from an empty read model)."""
    if not settings.bootstrap_enabled:
        return None
    if check and not await bootstrap_needed(settings, redis=redis, sessionmaker=sessionmaker):
        return None
    deadline = time.monotonic() + wait_seconds
    async with contextlib.AsyncExitStack() as stack:
        client = catalog
        if client is None:
            client = httpx.AsyncClient(base_url=settings.catalog_url, timeout=30.0)
            stack.push_async_callback(client.aclose)
        while True:
            try:
                loaded = await bootstrap(
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
                continue
            if on_change is not None:
                with contextlib.suppress(RedisError, OSError):
                    await on_change([Change(items_changed=True)])
            return loaded


async def position_group(
    consumer: StreamConsumer,
    settings: Settings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    wait_seconds: float = 0.0,
    catalog: httpx.AsyncClient | None = None,
) -> bool:
    """Bootstraps if needed, then makes sure the group exists; True if the bootstrap failed.

    On failure the group follows the stream from its start meanwhile (what it holds is better
    than nothing) and the caller retries the bootstrap later.
    """
    if not settings.bootstrap_enabled:
        await consumer.ensure_group("0")
        return False
    key = f"recommender:bootstrap:{settings.events_stream}:{settings.consumer_group}"
    lock = TrainingLock(consumer.redis, ttl_ms=BOOTSTRAP_LOCK_TTL_MS, key=key)
    # Another replica is deciding: wait, its outcome counts here too (polled: the lock may
    # also go by expiry, which nothing announces).
    while not await lock.acquire():  # noqa: ASYNC110
        await asyncio.sleep(LOCK_POLL_SECONDS)
    try:
        if not await bootstrap_needed(settings, redis=consumer.redis, sessionmaker=sessionmaker):
            await consumer.ensure_group("0")
            return False
        try:
            await try_bootstrap(
                settings,
                redis=consumer.redis,
                sessionmaker=sessionmaker,
                wait_seconds=wait_seconds,
                check=False,
                catalog=catalog,
                on_change=consumer.on_change,
            )
        except BootstrapError as exc:
            log.warning("bootstrap failed (%s); following the stream meanwhile", exc)
            await consumer.ensure_group("0")
            return True
        return False
    finally:
        await lock.release()


async def sync_once(
    settings: Settings,
    *,
    redis: aioredis.Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
    timeout_seconds: float = 180.0,
    progress: Callable[[str], None] = print,
    catalog: httpx.AsyncClient | None = None,
) -> int:
    """Bootstrap when needed, then consume until the group has nothing unread or pending (other
    replicas may be applying entries too), or `timeout_seconds` pass; returns entries applied
    here. Its consumer name is the replica's with `:sync`, so that it never re-reads the entries
    a serving process of the same replica has in flight."""
    consumer = make_consumer(
        settings, redis=redis, sessionmaker=sessionmaker, name=f"{settings.consumer_name}:sync"
    )
    if await position_group(
        consumer, settings, sessionmaker=sessionmaker,
        wait_seconds=settings.bootstrap_timeout_seconds, catalog=catalog,
    ):  # fmt: skip
        log.warning("training on what the stream holds")
    applied = 0
    start = time.monotonic()
    last_report = start
    while True:
        applied += await consumer.drain()
        lag = await consumer.lag()
        left = int(lag["pending"] or 0) + int(lag["lag"] or 0)
        if left == 0:
            return applied
        now = time.monotonic()
        if now - start >= timeout_seconds:
            progress(f"read model still {left} stream entries behind after {timeout_seconds:.0f}s")
            return applied
        if now - last_report >= 2.0:
            progress(f"read model catching up: {left} stream entries left")
            last_report = now
        await asyncio.sleep(0.2)


async def run_forever(
    consumer: StreamConsumer,
    settings: Settings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    stop: asyncio.Event,
    catalog: httpx.AsyncClient | None = None,
) -> None:
    """Position the group (bootstrapping first when needed), then consume until `stop`; a failed
    bootstrap is retried in the background meanwhile."""
    pending_bootstrap = False
    while not stop.is_set():  # Redis or PostgreSQL may still be starting
        try:
            pending_bootstrap = await _until_stopped(
                position_group(
                    consumer,
                    settings,
                    sessionmaker=sessionmaker,
                    wait_seconds=settings.bootstrap_timeout_seconds,
                    catalog=catalog,
                ),
                stop,
            )
            break
        except Exception as exc:
            log.warning("consumer: cannot position the group yet (%s); retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    if stop.is_set():
        return
    next_try = time.monotonic() + BOOTSTRAP_RETRY_SECONDS
    consume = asyncio.create_task(consumer.run(stop))
    try:
        while pending_bootstrap and not stop.is_set():
            if time.monotonic() >= next_try:
                try:
                    await try_bootstrap(
                        settings, redis=consumer.redis, sessionmaker=sessionmaker, check=False,
                        catalog=catalog, on_change=consumer.on_change,
                    )  # fmt: skip
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


async def _until_stopped(work: Awaitable[bool], stop: asyncio.Event) -> bool:
    """`work`'s result, or False once `stop` is set (the work is cancelled then)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    return task.result()
