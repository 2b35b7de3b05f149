"""From the HTTP API to the Redis stream: every write once, in commit order, through outages."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.config import Settings
from catalog_service.main import create_app
from catalog_service.outbox.models import OutboxEvent
from shared.devstack import EmbeddedRedis
from shared.events import Event, EventType
from tests.catalog.conftest import MakeEpreuve, MakeUser
from tests.catalog.fixtures_events import stream_events, wait_until
from tests.conftest import asgi_client

STREAM = "flow.catalog.events"
RELAY_ON = {"outbox_relay_enabled": True, "events_stream": STREAM, "outbox_poll_interval": 0.05}
KINDS = ["CLICK", "VIEW", "DOWNLOAD"]


async def _client_writes(
    client: httpx.AsyncClient, headers: dict[str, str], epreuves: list[int], count: int, seed: int
) -> list[int]:
    """One client's sequential POSTs (each sent after the previous commit); their ids, in order."""
    ids = []
    for n in range(count):
        body = {"epreuve_id": epreuves[(seed + n) % len(epreuves)], "kind": KINDS[n % 3]}
        response = await client.post("/v1/interactions", json=body, headers=headers)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def _interactions_on_stream(redis: aioredis.Redis) -> list[Event]:
    entries = await stream_events(redis, STREAM)
    return [e for _, e in entries if e.type is EventType.INTERACTION_CREATED]


def _stream_count(redis: aioredis.Redis, expected: int) -> Any:
    async def reached() -> bool:
        return len(await _interactions_on_stream(redis)) >= expected

    return reached


@pytest.mark.slow
@pytest.mark.parametrize("settings_overrides", [RELAY_ON])
async def test_a_thousand_concurrent_interactions_reach_the_stream_once_in_commit_order(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    make_epreuve: MakeEpreuve,
) -> None:
    users = [await make_user() for _ in range(20)]
    epreuves = [(await make_epreuve()).id for _ in range(5)]

    # Two concurrent clients per user, 25 writes each: 40 clients, 1,000 interactions.
    clients = [(user, seed) for user, seed in itertools.product(users, range(2))]
    sequences = await asyncio.gather(
        *(_client_writes(client, h, epreuves, 25, seed) for (_, h), seed in clients)
    )
    await wait_until(_stream_count(app.state.redis, 1000), limit=60)
    await asyncio.sleep(0.2)  # anything extra would have arrived by now

    events = await _interactions_on_stream(app.state.redis)
    written = sorted(itertools.chain.from_iterable(sequences))
    assert len(written) == 1000
    assert len(events) == 1000
    assert len({e.event_id for e in events}) == 1000
    assert sorted(e.payload["id"] for e in events) == written
    position = {e.payload["id"]: n for n, e in enumerate(events)}
    for ids in sequences:  # a client's write N+1 was sent after write N committed
        assert [position[i] for i in ids] == sorted(position[i] for i in ids)
    # Per user, across their two clients: stream order = outbox id order = commit order (the
    # outbox id is taken under the user's lock, held until commit).
    rows = await session.execute(select(OutboxEvent.event_id, OutboxEvent.id))
    outbox_id = {event_id: row_id for event_id, row_id in rows}
    per_user: dict[int, list[int]] = defaultdict(list)
    for event in events:
        per_user[event.payload["user_id"]].append(outbox_id[event.event_id])
    assert len(per_user) == 20
    assert all(ids == sorted(ids) for ids in per_user.values())


@pytest.mark.slow
async def test_writes_succeed_while_redis_is_down_and_the_backlog_arrives_once(
    tmp_path: Path,
    settings: Settings,
    session: AsyncSession,
    make_user: MakeUser,
    make_epreuve: MakeEpreuve,
) -> None:
    server = EmbeddedRedis(tmp_path / "r").start()
    own = settings.model_copy(update={**RELAY_ON, "redis_url": server.url})
    catalog = create_app(own)
    users = [await make_user() for _ in range(4)]
    epreuves = [(await make_epreuve()).id for _ in range(3)]
    written: list[int] = []
    try:
        async with asgi_client(catalog, lifespan=True) as client:

            async def burst(count: int) -> None:
                for ids in await asyncio.gather(
                    *(
                        _client_writes(client, h, epreuves, count, n)
                        for n, (_, h) in enumerate(users)
                    )
                ):
                    written.extend(ids)

            await burst(10)
            await wait_until(_stream_count(catalog.state.redis, 40), limit=30)

            server.stop()
            await burst(25)  # every one is asserted 201 inside _client_writes
            pending = await session.scalar(
                select(func.count()).where(OutboxEvent.published_at.is_(None))
            )
            assert pending == 100

            server.start()
            await burst(5)
            await wait_until(_stream_count(catalog.state.redis, 160), limit=60)
            await asyncio.sleep(0.3)
            events = await _interactions_on_stream(catalog.state.redis)
    finally:
        server.stop()

    assert len(written) == 160
    assert len(events) == 160
    assert len({e.event_id for e in events}) == 160
    assert sorted(e.payload["id"] for e in events) == sorted(written)
