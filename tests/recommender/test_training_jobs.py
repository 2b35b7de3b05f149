"""Training runs: one trainer at a time, triggers, and serving that goes on during training."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.errors import NotEnoughData, TrainingInProgress
from recommender_service.main import create_app
from recommender_service.ml.artifact import TrainedModel
from recommender_service.registry import service as registry
from recommender_service.training.jobs import batch_size_for
from recommender_service.training.lock import LOCK_KEY, TrainingLock
from shared.service_auth import SERVICE_KEY_HEADER
from tests.recommender.conftest import (
    SERVICE_KEY,
    ReadModel,
    load_synthetic,
    make_settings,
    train_version,
)
from tests.recommender.synthetic import generate


async def _wait_status(client: httpx.AsyncClient, version_id: int) -> dict:
    for _ in range(1200):
        listing = (await client.get("/v1/models")).json()
        version = next(v for v in listing["items"] if v["id"] == version_id)
        if version["status"] != "training":
            return version
        await asyncio.sleep(0.05)
    raise AssertionError(f"version {version_id} still training")


async def test_the_lock_lets_one_trainer_at_a_time(redis: aioredis.Redis) -> None:
    first = TrainingLock(redis, ttl_ms=5000)
    second = TrainingLock(redis, ttl_ms=5000)
    assert await first.acquire() is True
    assert await second.acquire() is False
    await second.release()  # not the owner: must not free the lock
    assert await redis.get(LOCK_KEY) == first.token
    await first.release()
    assert await second.acquire() is True
    await second.release()
    assert await redis.exists(LOCK_KEY) == 0


async def test_the_lock_is_renewed_while_training_lasts(redis: aioredis.Redis) -> None:
    # Renewed every 3 s, so a loop stalled for up to 6 s on a loaded machine still keeps it.
    lock = TrainingLock(redis, ttl_ms=9000)
    assert await lock.acquire()
    remaining = await redis.pttl(LOCK_KEY)
    for _ in range(600):  # once renewed, its remaining time goes back up
        await asyncio.sleep(0.05)
        now = await redis.pttl(LOCK_KEY)
        if now > remaining:
            break
        remaining = now
    else:
        raise AssertionError("the lock was never renewed")
    assert await redis.get(LOCK_KEY) == lock.token
    await lock.release()


async def test_a_second_training_request_while_one_runs_is_a_409(
    client: httpx.AsyncClient,
    redis: aioredis.Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load_synthetic(sessionmaker, generate(30, 20, 600, seed=1))
    other_replica = TrainingLock(redis, ttl_ms=5000)
    assert await other_replica.acquire()
    refused = await client.post("/v1/models/train", json={"epochs": 2})
    assert refused.status_code == 409
    assert refused.json()["code"] == "training_in_progress"
    assert (await client.get("/v1/model")).json()["training_in_progress"] is True
    await other_replica.release()
    accepted = await client.post("/v1/models/train", json={"epochs": 2, "model": "gmf"})
    assert accepted.status_code == 202
    version = await _wait_status(client, accepted.json()["run_id"])
    assert (version["status"], version["algorithm"], version["trigger"]) == ("active", "gmf", "api")


async def test_a_training_request_with_bad_options_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/train", json={"model": "svd"})
    assert response.status_code == 422
    assert response.json()["message"].startswith("model:")


async def test_training_without_enough_data_fails_the_version_cleanly(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    read_model: ReadModel,
) -> None:
    await read_model.item(10)
    await read_model.interaction(1, 10)
    with pytest.raises(NotEnoughData):
        await train_version(settings, sessionmaker, redis)
    async with sessionmaker() as session:
        version = await registry.get_version(session=session, version_id=1)
    assert (version.status, version.error) == (
        "failed",
        "NotEnoughData: 1 (user, item) pairs; at least 5 needed",
    )
    assert version.finished_at is not None
    assert await redis.exists(LOCK_KEY) == 0
    with pytest.raises(TrainingInProgress):
        held = TrainingLock(redis, ttl_ms=5000)
        await held.acquire()
        try:
            await train_version(settings, sessionmaker, redis)
        finally:
            await held.release()


@pytest.fixture
async def trainer_client(
    database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url, redis_url, tmp_path, train_epochs=12, train_embedding_dim=32,
        train_batch_size=128, train_refit_full=True,
    )  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {SERVICE_KEY_HEADER: SERVICE_KEY}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as c:
            yield c


@pytest.mark.slow
async def test_serving_answers_while_a_model_trains(
    trainer_client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    data = generate(80, 40, 4000, seed=2)
    await load_synthetic(sessionmaker, data)
    run_id = (await trainer_client.post("/v1/models/train", json={})).json()["run_id"]
    answered_during_training = 0
    user_id = int(data.user_ids[0])
    # Bounded by time, not by a request count: serving from memory answers thousands of
    # requests while one run trains on a quiet machine.
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = (await trainer_client.get("/v1/model")).json()
        if not status["training_in_progress"]:
            break
        response = await trainer_client.get(
            f"/v1/users/{user_id}/recommendations", params={"k": 1 + answered_during_training % 50}
        )
        assert response.status_code == 200
        body = response.json()
        # No model yet: popularity in the student's niveau and filière answers meanwhile.
        assert (body["model_version"], body["fallback"]) == (None, "popularity")
        answered_during_training += 1
        await asyncio.sleep(0.01)  # leave the training thread the GIL between requests
    else:
        raise AssertionError("the run was still training after 600 s")
    version = await _wait_status(trainer_client, run_id)
    assert version["status"] == "active"
    assert answered_during_training >= 3


@pytest.mark.slow
async def test_recommendations_show_the_planted_preference(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    client: httpx.AsyncClient,
) -> None:
    """On the reference-size set, users get papers of their own filière (chance: 1 in 4)."""
    data = generate(200, 150, 15_000, seed=5)
    await load_synthetic(sessionmaker, data)
    settings = settings.model_copy(
        update={"train_epochs": 15, "train_embedding_dim": None, "train_batch_size": None}
    )
    outcome = await train_version(settings, sessionmaker, redis, seed=7)
    assert outcome.metrics["hr@10"] > outcome.metrics["pop_hr@10"]
    assert outcome.metrics["ndcg@10"] > outcome.metrics["pop_ndcg@10"]
    top10, unseen5 = [], []
    for user_id in data.all_user_ids[:50]:
        url = f"/v1/users/{user_id}/recommendations"
        for _ in range(100):
            body = (await client.get(url, params={"k": 10, "exclude_seen": False})).json()
            if body["model_version"] == outcome.version_id:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"version {outcome.version_id} never served user {user_id}")
        fresh = (await client.get(url, params={"k": 5})).json()
        assert (body["fallback"], fresh["model_version"], fresh["fallback"]) == (
            None,
            outcome.version_id,
            None,
        )
        own = data.user_filiere[int(user_id)]
        top10.append(np.mean([item["filiere"] == own for item in body["items"]]))
        unseen5.append(np.mean([item["filiere"] == own for item in fresh["items"]]))
    assert float(np.mean(top10)) > 0.6
    assert float(np.mean(unseen5)) > 0.4


async def test_a_feature_model_trained_by_the_service_reads_the_read_models_metadata(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    read_model: ReadModel,
) -> None:
    data = generate(60, 40, 2000, seed=3)
    await load_synthetic(sessionmaker, data)
    await read_model.item(99_001, niveau="M2", filiere="CHIMIE", matiere="Spectroscopie")
    outcome = await train_version(settings, sessionmaker, redis, model="neumf_features", seed=2)
    async with sessionmaker() as session:
        blob = await registry.load_artifact(session=session, version_id=outcome.version_id)
    model = TrainedModel.from_bytes(blob)
    assert model.algorithm == "neumf_features" and model.uses_features
    assert model.features is not None
    # The read model's columns, as tokens: every active user's and paper's, the new one's too
    # (in the item pool: no interaction, but its metadata is known).
    assert set(model.features.users.vocab) == {
        *(f"niveau={n}" for n in set(data.user_niveau.values())),
        *(f"filiere={f}" for f in set(data.user_filiere.values())),
    }
    assert "matiere=Spectroscopie" in model.features.items.vocab
    index = model.item_index(99_001)
    assert index is not None
    codes = model.features.items.codes[index]
    tokens = {model.features.items.vocab[c - 1] for c in codes if c}
    assert tokens == {
        "filiere=CHIMIE", "niveau=M2", "matiere=Spectroscopie", "type=PARTIEL", "annee=2024",
    }  # fmt: skip
    assert outcome.metrics["calibration"]["pairs"] > 0
    assert model.calibration is not None and model.calibration.slope > 0


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [(10, 256), (12_000, 512), (60_000, 2048), (994_169, 2048)],
)
def test_batch_size_gives_small_data_enough_steps_per_epoch(pairs: int, expected: int) -> None:
    assert batch_size_for(pairs, num_negatives=4) == expected
