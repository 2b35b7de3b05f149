"""Bootstrap from the real catalog's export endpoints (its app over ASGI, same test database).

The catalog is arranged through its own services and HTTP API (users, an épreuve upload,
interactions), then the recommender imports the history and positions its consumer group.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog_service.auth.passwords import hash_password_sync
from catalog_service.auth.tokens import TokenType
from catalog_service.config import Settings as CatalogSettings
from catalog_service.main import create_app as create_catalog
from catalog_service.users.schemas import UserCreate
from catalog_service.users.service import create_user
from recommender_service.config import Settings
from recommender_service.consumer.bootstrap import bootstrap, needs_bootstrap, stream_gap
from recommender_service.consumer.runner import make_consumer
from recommender_service.readmodel.models import Interaction, Item, User
from recommender_service.readmodel.service import apply_payload
from shared.enums import Filiere, InteractionKind, Niveau, Role
from shared.events import CONSUMER_GROUP, InteractionCreated, UserUpserted
from tests.catalog.conftest import PDF_BYTES
from tests.conftest import asgi_client
from tests.recommender.conftest import SERVICE_KEY, STREAM, publish

_HASH = hash_password_sync("password-123")


@pytest.fixture
async def catalog(database_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = CatalogSettings(
        database_url=database_url, redis_url=redis_url, jwt_secret="test-jwt-secret-0123456789",
        service_api_key=SERVICE_KEY, data_dir=tmp_path, upload_dir=tmp_path / "uploads",
        outbox_relay_enabled=False, first_admin_email=None, first_admin_password=None,
    )  # fmt: skip
    app = create_catalog(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def catalog_client(catalog: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(catalog, base_url="http://catalog") as client:
        yield client


async def _user(catalog: FastAPI, n: int, role: Role, **fields: object) -> dict[str, str]:
    data = UserCreate(
        email=f"u{n}@univ.example", password="password-123", full_name=f"User {n}", role=role,
        **fields,
    )  # fmt: skip
    async with catalog.state.sessionmaker() as session:
        user = await create_user(session=session, data=data, password_hash=_HASH)
    token = catalog.state.token_signer.issue(user.id, TokenType.ACCESS, version=0)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def history(catalog: FastAPI, catalog_client: httpx.AsyncClient) -> list[int]:
    """3 users, 2 épreuves, 3 interactions in the catalog; returns the épreuve ids."""
    teacher = await _user(catalog, 1, Role.TEACHER)
    students = [
        await _user(catalog, 2, Role.STUDENT, niveau=Niveau.L2, filiere=Filiere.MATH),
        await _user(catalog, 3, Role.STUDENT, niveau=Niveau.L1, filiere=Filiere.INFO),
    ]
    ids = []
    for title in ("Analyse 2", "Algèbre 1"):
        form = {"title": title, "matiere": "Analyse", "filiere": "MATH", "niveau": "L2",
                "type": "PARTIEL", "annee": "2024"}  # fmt: skip
        created = await catalog_client.post(
            "/v1/epreuves", data=form, files={"file": ("s.pdf", PDF_BYTES, "application/pdf")},
            headers=teacher,
        )  # fmt: skip
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    for headers, epreuve_id in [
        (students[0], ids[0]),
        (students[0], ids[1]),
        (students[1], ids[0]),
    ]:
        body = {"epreuve_id": epreuve_id, "kind": InteractionKind.DOWNLOAD.value}
        response = await catalog_client.post("/v1/interactions", json=body, headers=headers)
        assert response.status_code == 201, response.text
    return ids


async def _count(sm: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sm() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def _bootstrap(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    *,
    service_key: str = SERVICE_KEY,
    page_size: int = 1000,
) -> dict[str, int]:
    """A bootstrap of the test stream's consumer group from the catalog's export."""
    return await bootstrap(
        client=client, sessionmaker=sessionmaker, redis=redis, stream=STREAM,
        group=CONSUMER_GROUP, service_key=service_key, page_size=page_size,
    )  # fmt: skip


async def test_an_empty_read_model_is_loaded_from_the_catalog_export(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    catalog_client: httpx.AsyncClient,
    history: list[int],
) -> None:
    async with sessionmaker() as session:
        assert await needs_bootstrap(
            session=session, redis=redis, stream=STREAM, group="recommender"
        )
    await publish(redis, UserUpserted(id=999))  # already in the stream before the export
    imported = await _bootstrap(catalog_client, sessionmaker, redis, page_size=2)
    # VIEWs recorded by the catalog itself are interactions too; DOWNLOADs are ours.
    n_interactions = await _count(sessionmaker, Interaction)
    assert imported["users"] == 3
    assert imported["epreuves"] == 2
    assert imported["interactions"] == n_interactions
    assert await _count(sessionmaker, User) == 3
    assert await _count(sessionmaker, Item) == 2
    async with sessionmaker() as session:
        downloads = await session.scalar(select(func.count()).where(Interaction.kind == "DOWNLOAD"))
    assert downloads == 3
    # The group starts after what the export covers: the older stream entry is not replayed.
    consumer = make_consumer(settings, redis=redis, sessionmaker=sessionmaker)
    assert await consumer.drain() == 0
    async with sessionmaker() as session:
        assert (
            await needs_bootstrap(session=session, redis=redis, stream=STREAM, group="recommender")
            is False
        )


async def test_stream_events_overlapping_the_export_change_nothing(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    catalog_client: httpx.AsyncClient,
    history: list[int],
) -> None:
    await _bootstrap(catalog_client, sessionmaker, redis)
    async with sessionmaker() as session:
        exported = await session.get(Interaction, 1)
    before = await _count(sessionmaker, Interaction)
    await publish(
        redis,
        InteractionCreated(
            id=exported.id, user_id=exported.user_id, epreuve_id=exported.item_id,
            kind=InteractionKind(exported.kind), created_at=exported.occurred_at,
        ),
    )  # fmt: skip
    consumer = make_consumer(settings, redis=redis, sessionmaker=sessionmaker)
    assert await consumer.drain() == 1
    assert await _count(sessionmaker, Interaction) == before


async def test_a_stream_trimmed_past_the_group_triggers_a_bootstrap(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    catalog_client: httpx.AsyncClient,
    history: list[int],
) -> None:
    consumer = make_consumer(settings, redis=redis, sessionmaker=sessionmaker)
    await consumer.ensure_group()
    await publish(redis, UserUpserted(id=1))
    await consumer.drain()
    for n in range(3):  # events the group never read, then trimmed away
        await publish(redis, UserUpserted(id=100 + n))
    await redis.xtrim(STREAM, maxlen=1, approximate=False)
    assert await stream_gap(redis, stream=STREAM, group=settings.consumer_group) is True
    async with sessionmaker() as session:
        assert await needs_bootstrap(
            session=session, redis=redis, stream=STREAM, group=settings.consumer_group
        )
    await _bootstrap(catalog_client, sessionmaker, redis)
    assert await stream_gap(redis, stream=STREAM, group=settings.consumer_group) is False
    assert await _count(sessionmaker, Item) == 2


async def test_a_wrong_service_key_fails_the_bootstrap(
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    catalog_client: httpx.AsyncClient,
) -> None:
    from recommender_service.consumer.bootstrap import BootstrapError

    with pytest.raises(BootstrapError, match="HTTP 401"):
        await _bootstrap(catalog_client, sessionmaker, redis, service_key="wrong")


def _fresh(settings: Settings) -> Settings:
    # A fresh replica with bootstrap on (the catalog is reached through the test's client).
    return settings.model_copy(update={"bootstrap_enabled": True, "bootstrap_timeout_seconds": 0})


async def test_a_fresh_replica_bootstraps_first_and_does_not_replay_the_stream(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    catalog_client: httpx.AsyncClient,
    history: list[int],
) -> None:
    from recommender_service.consumer.runner import run_forever

    settings = _fresh(settings)
    for n in range(5):  # history already in the stream, hence in the export: not to be replayed
        await publish(redis, UserUpserted(id=900 + n))
    high_water = (await redis.xrevrange(STREAM, count=1))[0][0]
    consumer = make_consumer(settings, redis=redis, sessionmaker=sessionmaker)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_forever(
            consumer, settings, sessionmaker=sessionmaker, stop=stop, catalog=catalog_client
        )
    )
    for _ in range(200):
        if await _count(sessionmaker, Item) == 2:
            break
        await asyncio.sleep(0.02)
    await publish(redis, UserUpserted(id=4242))  # after the bootstrap: followed
    for _ in range(200):
        if consumer.stats.applied:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert consumer.stats.applied == 1
    assert consumer.stats.last_entry_id != high_water
    assert await _count(sessionmaker, User) == 4  # 3 exported + the one that followed
    groups = await redis.xinfo_groups(STREAM)
    assert [g["pending"] for g in groups] == [0]


async def test_replicas_starting_together_bootstrap_once(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    catalog: FastAPI,
    history: list[int],
) -> None:
    from recommender_service.consumer.runner import position_group

    settings = _fresh(settings)
    await publish(redis, UserUpserted(id=900))
    high_water = (await redis.xrevrange(STREAM, count=1))[0][0]
    exports: list[str] = []

    async def record(request: httpx.Request) -> None:
        exports.append(request.url.path)

    async with asgi_client(
        catalog, base_url="http://catalog", event_hooks={"request": [record]}
    ) as client:
        replicas = [
            make_consumer(settings, redis=redis, sessionmaker=sessionmaker, name=f"r{n}")
            for n in range(3)
        ]
        failed = await asyncio.gather(
            *(
                position_group(c, settings, sessionmaker=sessionmaker, catalog=client)
                for c in replicas
            )
        )
    assert failed == [False, False, False]
    assert exports.count("/internal/export/users") == 1
    groups = await redis.xinfo_groups(STREAM)
    assert [(g["name"], g["last-delivered-id"]) for g in groups] == [
        (settings.consumer_group, high_water)
    ]
    assert [await c.drain() for c in replicas] == [0, 0, 0]


async def test_a_replica_that_needs_no_bootstrap_follows_the_stream_from_its_start(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
) -> None:
    from recommender_service.consumer.runner import position_group

    settings = settings.model_copy(update={"bootstrap_enabled": True})
    async with sessionmaker() as session, session.begin():  # a read model already filled
        await apply_payload(session, UserUpserted(id=1), at=datetime.now(UTC))
    await publish(redis, UserUpserted(id=2))
    consumer = make_consumer(settings, redis=redis, sessionmaker=sessionmaker)
    assert await position_group(consumer, settings, sessionmaker=sessionmaker) is False
    assert await consumer.drain() == 1
    assert await _count(sessionmaker, User) == 2
