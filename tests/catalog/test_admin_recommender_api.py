"""/v1/recommender/...: the admin proxies to the real recommender on uvicorn (the fixtures of
test_recommendations_api); "down" is a port with nothing listening."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from recommender_service.training.lock import TrainingLock
from shared.enums import Role
from tests.catalog.conftest import MakeUser
from tests.catalog.test_recommendations_api import (  # noqa: F401 (fixtures)
    recommender,
    recommender_mode,
    settings_overrides,
)

pytestmark = pytest.mark.usefixtures("recommender")


@pytest.fixture
async def admin(make_user: MakeUser) -> dict[str, str]:
    _, headers = await make_user(Role.ADMIN, niveau=None, filiere=None)
    return headers


@pytest.fixture
async def held_training_lock(redis_url: str) -> AsyncIterator[None]:
    """Another replica is training: the recommender's own Redis lock is taken."""
    redis = aioredis.from_url(redis_url)
    lock = TrainingLock(redis, ttl_ms=30_000)
    assert await lock.acquire()
    try:
        yield
    finally:
        await lock.release()
        await redis.aclose()


async def _wait_finished(client: httpx.AsyncClient, admin: dict[str, str], run_id: int) -> Any:
    async with asyncio.timeout(20):
        while True:
            page = (await client.get("/v1/recommender/models", headers=admin)).json()
            run = next(v for v in page["items"] if v["id"] == run_id)
            if run["status"] != "training":
                return run
            await asyncio.sleep(0.1)


async def test_model_status_is_relayed(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.get("/v1/recommender/model", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["active"], body["training_in_progress"], body["current_run"]) == (
        None,
        False,
        None,
    )
    assert body["served_version"] is None  # a recommender-only field, passed through


async def test_train_is_accepted_and_the_run_is_listed_with_its_epochs(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post("/v1/recommender/models/train", json={"epochs": 1}, headers=admin)
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    assert response.json()["status"] == "training"
    # An empty read model: the run fails fast (too little data) but stays on record.
    run = await _wait_finished(client, admin, run_id)
    assert run["status"] == "failed"
    assert run["hyperparameters"]["epochs"] == 1
    page = (await client.get("/v1/recommender/models", params={"limit": 5}, headers=admin)).json()
    assert (page["total"], page["limit"], page["offset"]) == (1, 5, 0)
    epochs = await client.get(f"/v1/recommender/models/{run_id}/epochs", headers=admin)
    assert (epochs.status_code, epochs.json()) == (200, [])


@pytest.mark.usefixtures("held_training_lock")
async def test_train_while_a_run_is_in_progress_relays_the_409(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post("/v1/recommender/models/train", headers=admin)
    assert response.status_code == 409
    assert response.json()["code"] == "training_in_progress"


async def test_activating_an_unknown_version_relays_the_404(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post("/v1/recommender/models/999/activate", headers=admin)
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found"
    assert "999" in body["message"]


async def test_a_training_request_the_recommender_rejects_relays_its_422(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post("/v1/recommender/models/train", json={"epochs": 0}, headers=admin)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert "epochs" in body["message"]


@pytest.mark.parametrize("recommender_mode", ["down"], indirect=True)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/recommender/model"),
        ("GET", "/v1/recommender/models"),
        ("GET", "/v1/recommender/models/1/epochs"),
        ("POST", "/v1/recommender/models/train"),
        ("POST", "/v1/recommender/models/1/activate"),
    ],
)
async def test_a_down_recommender_gives_503_recommender_unavailable(
    client: httpx.AsyncClient, admin: dict[str, str], method: str, path: str
) -> None:
    response = await client.request(method, path, headers=admin)
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "recommender_unavailable"
    assert body["message"].startswith("The recommender is unavailable")


@pytest.mark.parametrize("recommender_mode", ["down"], indirect=True)
@pytest.mark.parametrize("role", [Role.STUDENT, Role.TEACHER])
async def test_students_and_teachers_get_403(
    client: httpx.AsyncClient, make_user: MakeUser, role: Role
) -> None:
    _, headers = await make_user(role)
    for method, path in [
        ("GET", "/v1/recommender/models"),
        ("POST", "/v1/recommender/models/train"),
    ]:
        response = await client.request(method, path, headers=headers)
        assert (response.status_code, response.json()["code"]) == (403, "forbidden")


@pytest.mark.parametrize("recommender_mode", ["down"], indirect=True)
async def test_anonymous_callers_get_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/recommender/model")
    assert response.status_code == 401
