"""Helpers for the event tests: an engine on the test database, reading the stream, waiting.

Test modules import the `*_fixture` functions; pytest knows them by their short `name`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog_service.outbox.models import OutboxEvent
from shared.database import make_engine, make_sessionmaker
from shared.events import Event

STREAM = "test.catalog.events"


@pytest.fixture(name="engine")
async def engine_fixture(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture(name="sessions")
def sessions_fixture(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture(name="redis_client")
async def redis_client_fixture(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


async def stream_events(client: aioredis.Redis, stream: str = STREAM) -> list[tuple[str, Event]]:
    """Every entry of the stream, oldest first, as (stream id, event)."""
    entries = await client.xrange(stream)
    return [(entry_id.decode(), Event.from_fields(fields)) for entry_id, fields in entries]


async def pending_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        query = select(func.count()).where(OutboxEvent.published_at.is_(None))
        return int(await session.scalar(query) or 0)


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], *, limit: float = 10.0, interval: float = 0.01
) -> float:
    """Polls `predicate` until it holds; returns the seconds waited, fails after `limit` s."""
    start = time.monotonic()
    while not await predicate():
        if time.monotonic() - start > limit:
            raise AssertionError(f"condition not met within {limit}s")
        await asyncio.sleep(interval)
    return time.monotonic() - start
