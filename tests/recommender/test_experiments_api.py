"""A/B tests of model versions through the recommender's API: one running experiment at a time,
stopped or promoted with one call, every change told to the replicas."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.registry import experiments
from recommender_service.registry import service as registry


async def _version(sm: async_sessionmaker[AsyncSession], *, active: bool = False) -> int:
    """A trained version (its artefact is not loadable: no replica serves it in these tests)."""
    async with sm() as session, session.begin():
        version = await registry.create_version(
            session=session, algorithm="mf", hyperparameters={}, trigger="test"
        )
        await registry.complete_version(
            session=session, version_id=version.id, blob=b"x", metrics={}, n_users=1,
            n_items=1, n_interactions=1, train_seconds=0.1, data_snapshot_at=version.created_at,
        )  # fmt: skip
        if active:
            await registry.activate(session=session, version_id=version.id)
        return version.id


async def _start(client: httpx.AsyncClient, candidate: int, traffic: float = 0.1) -> Any:
    return await client.post(
        "/v1/experiments", json={"candidate_version": candidate, "traffic": traffic}
    )


async def test_an_experiment_starts_with_the_active_version_as_its_control(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    control = await _version(sessionmaker, active=True)
    candidate = await _version(sessionmaker)
    response = await _start(client, candidate, 0.25)
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("id", "status", "candidate_version", "control_version")} == {
        "id": 1, "status": "running", "candidate_version": candidate, "control_version": control,
    }  # fmt: skip
    assert body["traffic"] == 0.25 and body["ended_at"] is None
    assert (await client.get("/v1/experiments/current")).json() == body
    assert await experiments.read_pointer(redis) == 1


async def test_a_second_experiment_is_refused_while_one_runs(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _version(sessionmaker, active=True)
    first, second = await _version(sessionmaker), await _version(sessionmaker)
    assert (await _start(client, first)).status_code == 201
    refused = await _start(client, second)
    assert refused.status_code == 409
    assert refused.json()["code"] == "experiment_running"
    assert (await client.get("/v1/experiments")).json()["total"] == 1


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("no_active", 409, "no_active_version"),
        ("active", 409, "candidate_is_active"),
        ("failed", 409, "candidate_not_ready"),
        ("unknown", 404, "not_found"),
    ],
)
async def test_a_candidate_that_cannot_be_compared_is_refused(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    case: str,
    status: int,
    code: str,
) -> None:
    candidate = await _version(sessionmaker)
    if case != "no_active":
        active = await _version(sessionmaker, active=True)
        candidate = {"active": active, "unknown": 999}.get(case, candidate)
    if case == "failed":
        async with sessionmaker() as session, session.begin():
            version = await registry.create_version(
                session=session, algorithm="mf", hyperparameters={}, trigger="test"
            )
            await registry.fail_version(session=session, version_id=version.id, error="boom")
            candidate = version.id
    response = await _start(client, candidate)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert (await client.get("/v1/experiments")).json()["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"candidate_version": 2, "traffic": 0},
        {"candidate_version": 2, "traffic": 1.0},
        {"candidate_version": 2, "traffic": "0.5"},
        {"candidate_version": "2", "traffic": 0.5},
        {"candidate_version": 2},
        {"candidate_version": 2, "traffic": 0.5, "arms": 3},
    ],
)
async def test_a_malformed_request_is_a_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/v1/experiments", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_stopping_ends_it_and_clears_the_pointer(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    control = await _version(sessionmaker, active=True)
    await _start(client, await _version(sessionmaker))
    stopped = await client.delete("/v1/experiments/current")
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "stopped" and stopped.json()["ended_at"] is not None
    assert (await client.get("/v1/experiments/current")).json()["code"] == "no_experiment"
    assert (await client.delete("/v1/experiments/current")).status_code == 404
    assert await experiments.read_pointer(redis) is None
    async with sessionmaker() as session:
        assert (await registry.get_active(session=session)).id == control


async def test_promoting_makes_the_candidate_the_active_version_in_one_call(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    control = await _version(sessionmaker, active=True)
    candidate = await _version(sessionmaker)
    await _start(client, candidate)
    pubsub = redis.pubsub()
    await pubsub.subscribe(registry.ACTIVE_CHANNEL)
    await pubsub.get_message(timeout=1)
    promoted = await client.post("/v1/experiments/current/promote")
    assert promoted.status_code == 200
    assert promoted.json()["status"] == "promoted"
    messages = [await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
                for _ in range(2)]  # fmt: skip
    await pubsub.aclose()
    assert [m["data"] for m in messages if m] == [str(candidate), "experiment"]
    async with sessionmaker() as session:
        active = await registry.get_active(session=session)
        assert active.id == candidate
        assert active.decision_reason.startswith(registry.BY_ADMIN)
        old = await registry.get_version(session=session, version_id=control)
        assert old.status == "archived"
    assert await registry.read_pointer(redis) == candidate
    assert await experiments.read_pointer(redis) is None
    assert (await client.post("/v1/experiments/current/promote")).status_code == 404
