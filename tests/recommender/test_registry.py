"""The model registry: versions, one active version, the pointer replicas follow."""

from __future__ import annotations

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.registry import service as registry
from recommender_service.registry.models import ModelVersion
from shared.freshness import ACTIVE_CHANNEL
from tests.recommender.conftest import load_synthetic, train_version
from tests.recommender.synthetic import generate


async def _ready_version(sm: async_sessionmaker[AsyncSession], metrics: dict[str, float]) -> int:
    async with sm() as session, session.begin():
        version = await registry.create_version(
            session=session, algorithm="neumf", hyperparameters={"epochs": 1}, trigger="test"
        )
        await registry.complete_version(
            session=session, version_id=version.id, blob=b"x", metrics=metrics, n_users=1,
            n_items=1, n_interactions=1, train_seconds=0.1, data_snapshot_at=version.created_at,
        )  # fmt: skip
        return version.id


async def test_activating_a_version_archives_the_previous_one(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first = await _ready_version(sessionmaker, {"ndcg@10": 0.3})
    second = await _ready_version(sessionmaker, {"ndcg@10": 0.4})
    for version_id in (first, second):
        async with sessionmaker() as session, session.begin():
            await registry.activate(session=session, version_id=version_id)
    async with sessionmaker() as session:
        assert (await registry.get_active(session=session)).id == second
        assert (await registry.get_version(session=session, version_id=first)).status == "archived"


async def test_the_database_refuses_two_active_versions(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first = await _ready_version(sessionmaker, {})
    second = await _ready_version(sessionmaker, {})
    async with sessionmaker() as session:
        with pytest.raises(IntegrityError):
            await session.execute(
                update(ModelVersion)
                .where(ModelVersion.id.in_([first, second]))
                .values(status="active")
            )


async def test_publishing_sets_the_pointer_and_notifies_subscribers(
    redis: aioredis.Redis,
) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(ACTIVE_CHANNEL)
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    await registry.publish_active(redis, 7)
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
    await pubsub.aclose()
    assert message["data"] == "7"
    assert await registry.read_pointer(redis) == 7


async def test_a_trained_version_is_stored_with_metrics_epochs_and_artefact(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    client: httpx.AsyncClient,
) -> None:
    await load_synthetic(sessionmaker, generate(30, 20, 600, seed=1))
    outcome = await train_version(settings, sessionmaker, redis, epochs=2)
    assert outcome.activated is True
    listing = (await client.get("/v1/models")).json()
    assert listing["total"] == 1
    assert (listing["limit"], listing["offset"]) == (20, 0)
    version = listing["items"][0]
    assert version["status"] == "active"
    assert version["n_users"] == 30
    assert version["hyperparameters"]["embedding_dim"] == 8
    assert "blob" not in version
    assert {"hr@10", "ndcg@10", "pop_hr@10", "pop_ndcg@10"} <= set(version["metrics"])
    epochs = (await client.get(f"/v1/models/{version['id']}/epochs")).json()
    assert [(e["stage"], e["epoch"]) for e in epochs] == [("select", 1), ("select", 2)]
    status = (await client.get("/v1/model")).json()
    assert status["active"]["id"] == version["id"]
    assert status["popularity"]["hr@10"] == version["metrics"]["pop_hr@10"]
    assert "pop_hr@10" not in status["metrics"]
    assert status["training_in_progress"] is False
    async with sessionmaker() as session:
        blob = await registry.load_artifact(session=session, version_id=version["id"])
    assert len(blob) > 0


async def test_activating_a_failed_version_is_a_conflict(
    sessionmaker: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    async with sessionmaker() as session, session.begin():
        version = await registry.create_version(
            session=session, algorithm="gmf", hyperparameters={}, trigger="test"
        )
        await registry.fail_version(session=session, version_id=version.id, error="boom")
    response = await client.post(f"/v1/models/{version.id}/activate")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    missing = await client.post("/v1/models/999/activate")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
