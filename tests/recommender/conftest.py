"""Recommender fixtures: settings on the test servers, the app and a keyed client, a session
factory, and factories that write the read model through the same code the consumer uses."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.main import create_app
from recommender_service.ml.pipeline import TrainConfig, fit
from recommender_service.readmodel.service import apply_payload
from recommender_service.registry import service as registry
from recommender_service.serving.cache import forget
from shared.database import make_engine, make_sessionmaker
from shared.enums import EpreuveType, Filiere, InteractionKind, Niveau
from shared.events import EpreuveUpserted, Event, InteractionCreated, Payload, UserUpserted
from shared.nearcache import NearCache
from shared.service_auth import SERVICE_KEY_HEADER
from tests.conftest import asgi_client
from tests.recommender.synthetic import SyntheticData, generate

SERVICE_KEY = "test-service-key"
STREAM = "test.catalog.events"


def make_settings(database_url: str, redis_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "service_api_key": SecretStr(SERVICE_KEY),
        "data_dir": tmp_path,
        "events_stream": STREAM,
        "consumer_name": "test-consumer",
        "consumer_enabled": False,
        "bootstrap_enabled": False,
        "auto_retrain_enabled": False,
        "consumer_block_ms": 50,
        "model_poll_seconds": 0.1,
        "torch_threads": 1,
        "train_epochs": 2,
        "train_embedding_dim": 8,
        "train_batch_size": 256,
        "train_holdout_metrics": False,
        "train_refit_full": False,
        "min_training_interactions": 5,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, redis_url, tmp_path)


@pytest.fixture
async def sessionmaker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.database_url, pool_size=2)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(settings.redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(app) as c:
        yield c


def service_client(
    app: FastAPI, *, lifespan: bool = False
) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
    """An ASGI client on the recommender that sends the service key, as the catalog does."""
    return asgi_client(app, lifespan=lifespan, headers={SERVICE_KEY_HEADER: SERVICE_KEY})


async def until(condition: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    """Polls `condition` (plain or awaitable) every 25 ms; fails after 10 s."""
    for _ in range(400):
        outcome = condition()
        if await outcome if isinstance(outcome, Awaitable) else outcome:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never: {what}")


async def until_heard(memory: NearCache, since: int, count: int = 1) -> None:
    """Until `memory` applied `count` notices beyond the first `since`: a memory hit reads no
    Redis, so an answer a change retired is served from there until its notice arrives."""
    await until(lambda: memory.notices >= since + count, f"{count} notice(s) heard")


async def publish(redis: aioredis.Redis, payload: Payload, *, stream: str = STREAM) -> Event:
    """What the catalog's relay does: one stream entry per event."""
    event = Event.of(payload)
    await redis.xadd(stream, event.to_fields())
    return event


async def publish_download(redis: aioredis.Redis, user_id: int, item_id: int) -> Event:
    """A student's download of a paper, now, as the catalog publishes it."""
    return await publish(
        redis,
        InteractionCreated(
            id=10**6, user_id=user_id, epreuve_id=item_id, kind=InteractionKind.DOWNLOAD,
            created_at=datetime.now(UTC),
        ),
    )  # fmt: skip


class ReadModel:
    """Writes read-model rows as the consumer would: `apply_payload`, then the change retires
    what it makes stale (`cache.forget`). An app hears the notice when it arrives: a test that
    holds answers in an app's memory waits for it (`until_heard`) before reading them again."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis
    ) -> None:
        self.sessionmaker = sessionmaker
        self.redis = redis
        self._ids = itertools.count(10**7)  # clear of the synthetic set's ids
        self.now = datetime.now(UTC)

    async def _apply(self, payload: Payload) -> None:
        async with self.sessionmaker() as session, session.begin():
            change = await apply_payload(session, payload, at=self.now)
        await forget(self.redis, [change])

    async def user(self, user_id: int, niveau: str = "L2", filiere: str = "MATH") -> None:
        await self._apply(UserUpserted(id=user_id, niveau=Niveau(niveau), filiere=Filiere(filiere)))

    async def item(
        self,
        item_id: int,
        *,
        niveau: str = "L2",
        filiere: str = "MATH",
        matiere: str = "Analyse",
        type: str = "PARTIEL",
        active: bool = True,
    ) -> None:
        await self._apply(
            EpreuveUpserted(
                id=item_id,
                title=f"Épreuve {item_id}",
                matiere=matiere,
                filiere=Filiere(filiere),
                niveau=Niveau(niveau),
                type=EpreuveType(type),
                annee=2024,
                is_active=active,
            )
        )

    async def interaction(
        self, user_id: int, item_id: int, kind: str = "DOWNLOAD", *, days_ago: float = 1.0
    ) -> None:
        await self._apply(
            InteractionCreated(
                id=next(self._ids),
                user_id=user_id,
                epreuve_id=item_id,
                kind=InteractionKind(kind),
                created_at=self.now - timedelta(days=days_ago),
            )
        )


@pytest.fixture
def read_model(sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis) -> ReadModel:
    return ReadModel(sessionmaker, redis)


async def load_synthetic(
    sessionmaker: async_sessionmaker[AsyncSession], data: Any, *, days_ago: float = 10.0
) -> None:
    """Writes a `tests.recommender.synthetic` data set into the read model in one transaction."""
    from sqlalchemy import insert

    from recommender_service.readmodel.models import Interaction, Item, User

    now = datetime.now(UTC)
    t_max = int(data.timestamps.max())
    columns = (data.user_ids, data.item_ids, data.kinds, data.relevances, data.timestamps)
    users = [
        {"id": u, "niveau": data.user_niveau[u], "filiere": f, "is_active": True, "updated_at": now}
        for u, f in data.user_filiere.items()
    ]
    items = [
        {
            "id": i, "title": f"{data.item_matiere[i]} {i}", "matiere": data.item_matiere[i],
            "filiere": f, "niveau": data.item_niveau[i], "type": data.item_type[i],
            "annee": data.item_annee[i], "is_active": True, "updated_at": now,
        }
        for i, f in data.item_filiere.items()
    ]  # fmt: skip
    interactions = [
        {
            "id": n + 1, "user_id": int(u), "item_id": int(i), "kind": kind,
            "relevance": None if rel != rel else int(rel),
            "occurred_at": now - timedelta(days=days_ago, seconds=t_max - int(ts)),
        }
        for n, (u, i, kind, rel, ts) in enumerate(zip(*columns, strict=True))
    ]  # fmt: skip
    async with sessionmaker() as session, session.begin():
        await session.execute(insert(User), users)
        await session.execute(insert(Item), items)
        await session.execute(insert(Interaction), interactions)


async def train_version(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    **options: Any,
) -> Any:
    """One training run through the real job (lock, registry, activation)."""
    from recommender_service.training import jobs

    run = await jobs.start(
        sessionmaker=sessionmaker, redis=redis, settings=settings,
        options=jobs.TrainOptions(**options), trigger="test",
    )  # fmt: skip
    return await jobs.execute(run, sessionmaker=sessionmaker, redis=redis, settings=settings)


# A small trained model over a small synthetic read model, for the serving tests.
CONFIG = TrainConfig(
    model="neumf", embedding_dim=8, mlp_layers=(16, 8), epochs=3, holdout_metrics=False,
    refit_full=False, threads=1,
)  # fmt: skip


@pytest.fixture(scope="module")
def synthetic() -> SyntheticData:
    return generate(40, 24, 1200, seed=3)


@pytest.fixture(scope="module")
def model_blob(synthetic: SyntheticData) -> bytes:
    return fit(synthetic.interactions(), CONFIG).to_bytes()


async def install(sm: async_sessionmaker[AsyncSession], redis: aioredis.Redis, blob: bytes) -> int:
    """Registers `blob` as a new version, activates it and tells the replicas."""
    async with sm() as session, session.begin():
        version = await registry.create_version(
            session=session, algorithm="neumf", hyperparameters={}, trigger="test"
        )
        await registry.complete_version(
            session=session, version_id=version.id, blob=blob, metrics={"ndcg@10": 0.5},
            n_users=40, n_items=24, n_interactions=1200, train_seconds=1.0,
            data_snapshot_at=version.created_at,
        )  # fmt: skip
        await registry.activate(session=session, version_id=version.id)
    await registry.publish_active(redis, version.id)
    return version.id


async def wait_for_version(client: httpx.AsyncClient, version_id: int) -> None:
    for _ in range(100):
        if (await client.get("/v1/model")).json()["served_version"] == version_id:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"version {version_id} never served")


@pytest.fixture
async def served(
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    client: httpx.AsyncClient,
    synthetic: SyntheticData,
    model_blob: bytes,
) -> int:
    """The synthetic read model, and a model trained on it active and loaded by the app."""
    await load_synthetic(sessionmaker, synthetic)
    version_id = await install(sessionmaker, redis, model_blob)
    await wait_for_version(client, version_id)
    return version_id
