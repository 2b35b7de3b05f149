"""Both services on uvicorn on loopback, wired as in production: the catalog's relay feeds the
Redis stream, the recommender's consumer reads it, the catalog calls the recommender over HTTP.

`stack` (module-scoped: the e2e tests of a module are one story, in file order) starts on a
database emptied for the module, with the demo seed written through the catalog at a small
scale (tiny PDFs: rendering is not the point here), before the recommender starts.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select

from catalog_service.config import Settings as CatalogSettings
from catalog_service.main import create_app as create_catalog
from catalog_service.outbox.models import OutboxEvent
from catalog_service.seed import writer
from catalog_service.seed.generator import DemoSet, generate
from recommender_service.config import Settings as RecommenderSettings
from recommender_service.main import create_app as create_recommender
from shared.database import asyncpg_url
from shared.service_auth import SERVICE_KEY_HEADER
from tests.catalog.conftest import JWT_SECRET, PDF_BYTES, SERVICE_KEY
from tests.e2e.servers import Server, free_port

# The catalog's time budget for the recommender: generous, since no test here waits for it to
# run out (a stopped recommender is refused at once), and a first call on a loaded machine that
# missed a short budget would turn a personalised answer into the fallback.
TIMEOUT_S = 10.0
# Enough students per filière and niveau (~5) for the model to find the communities.
SEED_SCALE = 0.5


@dataclass
class Stack:
    catalog: Server
    recommender: Server
    recommender_settings: RecommenderSettings
    demo: DemoSet
    http: httpx.AsyncClient  # to the catalog, over the socket
    service: httpx.AsyncClient  # to the recommender, with the service key
    notes: dict[str, Any] = field(default_factory=dict)  # what a test hands to the next

    async def restart_recommender(self) -> None:
        """A fresh recommender process, as after a crash or a deployment: same port."""
        self.recommender = await Server(
            create_recommender(self.recommender_settings), self.recommender.port
        ).start()


async def _empty_database(url: str) -> None:
    conn = await asyncpg.connect(asyncpg_url(url).replace("+asyncpg", "", 1))
    try:
        tables = await conn.fetch(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN "
            "('catalog', 'recommender') AND tablename <> 'alembic_version'"
        )
        names = ", ".join(f'"{t["schemaname"]}"."{t["tablename"]}"' for t in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float, what: str, every_s: float = 0.2
) -> None:
    for _ in range(round(timeout_s / every_s)):
        if await check():
            return
        await asyncio.sleep(every_s)
    raise AssertionError(f"not within {timeout_s:g} s: {what}")


@pytest.fixture(scope="module")
async def stack(
    migrated_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    redis_url = os.environ["REDIS_URL"]
    await _empty_database(migrated_database_url)
    client = aioredis.from_url(redis_url)
    await client.flushall()
    await client.aclose()
    data = Path(tmp_path_factory.mktemp("e2e"))
    recommender_port = free_port()
    catalog_settings = CatalogSettings(
        database_url=migrated_database_url,
        redis_url=redis_url,
        jwt_secret=JWT_SECRET,
        service_api_key=SERVICE_KEY,
        data_dir=data / "catalog",
        recommender_url=f"http://127.0.0.1:{recommender_port}",
        recommender_timeout_s=TIMEOUT_S,
        recommender_breaker_failures=3,
        recommender_breaker_reset_s=0.5,
        outbox_relay_enabled=True,
        db_pool_size=5,
        auth_rate_limit_account=100,
        auth_rate_limit_ip=1000,
    )
    catalog_app = create_catalog(catalog_settings)
    catalog = await Server(catalog_app).start()
    # The history exists before the recommender starts, as with `make run`: its bootstrap
    # imports it from the catalog's export, then it follows the stream.
    demo = generate(seed=11, scale=SEED_SCALE)
    await writer.write(
        sessionmaker=catalog_app.state.sessionmaker,
        demo=demo,
        upload_root=catalog_settings.uploads_path,
        max_bytes=catalog_settings.max_upload_bytes,
        documents=[PDF_BYTES] * len(demo.epreuves),
    )

    async def published() -> bool:
        async with catalog_app.state.sessionmaker() as session:
            pending = await session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.published_at.is_(None))
            )
        return pending == 0

    # Then the bootstrap's hand-over point is the stream's end: only new events follow.
    await eventually(published, timeout_s=120, what="the relay published the seed's events")
    recommender_settings = RecommenderSettings(
        database_url=migrated_database_url,
        redis_url=redis_url,
        service_api_key=SERVICE_KEY,
        data_dir=data / "recommender",
        catalog_url=catalog.url,
        auto_retrain_enabled=False,
        consumer_block_ms=200,
        model_poll_seconds=0.2,
    )
    recommender = await Server(create_recommender(recommender_settings), recommender_port).start()
    async with (
        httpx.AsyncClient(base_url=catalog.url, timeout=30) as http,
        httpx.AsyncClient(
            base_url=recommender.url, timeout=30, headers={SERVICE_KEY_HEADER: SERVICE_KEY}
        ) as service,
    ):
        built = Stack(catalog, recommender, recommender_settings, demo, http, service)
        try:
            yield built
        finally:
            await built.recommender.stop()
            await built.catalog.stop()
