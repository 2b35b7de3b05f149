"""What serving keeps in each replica's memory stays right across replicas, and costs no SQL
while nothing changed: two app instances on one read model and one Redis, one of them consuming
(with a consumer group, each event reaches one replica only)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.main import create_app
from recommender_service.ml.artifact import TrainedModel
from recommender_service.serving.neighbours import Neighbours
from shared.events import EpreuveDeleted
from tests.recommender.conftest import (
    ReadModel,
    install,
    load_synthetic,
    make_settings,
    publish,
    publish_download,
    service_client,
    until,
    until_heard,
    wait_for_version,
)
from tests.recommender.synthetic import SyntheticData


@dataclass
class Replica:
    app: FastAPI
    client: httpx.AsyncClient

    async def recommend(self, user_id: int, **params: Any) -> dict[str, Any]:
        response = await self.client.get(f"/v1/users/{user_id}/recommendations", params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def cache_stats(self) -> dict[str, int]:
        return dict((await self.client.get("/v1/stats")).json()["cache"])


@contextlib.asynccontextmanager
async def _replica(settings_args: dict[str, Any]) -> AsyncIterator[Replica]:
    app = create_app(make_settings(**settings_args))
    async with service_client(app, lifespan=True) as client:
        yield Replica(app, client)


@pytest.fixture
async def replicas(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    synthetic: SyntheticData,
    model_blob: bytes,
) -> AsyncIterator[tuple[Replica, Replica]]:
    """(A, B) serving one model; only A consumes the stream."""
    await load_synthetic(sessionmaker, synthetic)
    common = {"database_url": database_url, "redis_url": redis_url}
    async with (
        _replica({**common, "tmp_path": tmp_path / "a", "consumer_enabled": True}) as a,
        _replica({**common, "tmp_path": tmp_path / "b"}) as b,
    ):
        version = await install(sessionmaker, redis, model_blob)
        for replica in (a, b):
            await wait_for_version(replica.client, version)
        yield a, b


async def _until_uncached(replica: Replica, user_id: int, **params: Any) -> dict[str, Any]:
    for _ in range(200):
        body = await replica.recommend(user_id, **params)
        if not body["cached"]:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"user {user_id}'s answer stayed cached")


async def test_a_change_consumed_by_one_replica_reaches_the_others_memory(
    replicas: tuple[Replica, Replica], redis: aioredis.Redis, synthetic: SyntheticData
) -> None:
    a, b = replicas
    user, other = int(synthetic.user_ids[0]), int(synthetic.user_ids[-1])
    first = await b.recommend(user, k=3)
    assert (first["cached"], (await b.recommend(user, k=3))["cached"]) == (False, True)
    await b.app.state.serving.cache.writes.drain()  # B's Redis copy, written once it answered
    assert (await a.recommend(user, k=3))["cached"] is True  # from Redis: B stored it there
    assert await a.cache_stats() == {"hits": 1, "memory_hits": 0, "misses": 0}
    everything = {"k": 24, "exclude_seen": False}
    await b.recommend(other, k=3)
    await b.recommend(other, **everything)
    top = first["items"][0]["item_id"]
    await publish_download(redis, user, top)
    after = await _until_uncached(b, user, k=3)  # B never saw the event: A consumed it
    assert top not in [i["item_id"] for i in after["items"]]  # B's history moved (or reloaded)
    assert (await b.recommend(other, k=3))["cached"] is True  # another user's answer holds

    assert (await b.recommend(other, **everything))["cached"] is True
    gone = after["items"][0]["item_id"]
    await publish(redis, EpreuveDeleted(id=gone))
    again = await _until_uncached(b, other, **everything)
    assert gone not in [i["item_id"] for i in again["items"]]  # B's item table was re-read
    assert len(again["items"]) == 23


def _history_loads(replica: Replica) -> int:
    return int(replica.app.state.serving.histories.loads)


async def _until_moved(replica: Replica) -> None:
    await until(lambda: bool(replica.app.state.serving.histories.advances), "the entry moved")


async def test_a_consumed_interaction_reaches_every_replicas_history_without_sql(
    replicas: tuple[Replica, Replica], redis: aioredis.Redis, synthetic: SyntheticData
) -> None:
    a, b = replicas
    user = int(synthetic.user_ids[0])
    top = (await a.recommend(user, k=3))["items"][0]["item_id"]
    assert (await b.recommend(user, k=4))["cached"] is False  # both hold the user's history
    loads = (_history_loads(a), _history_loads(b))
    await publish_download(redis, user, top)
    # A consumed it: its entry moves before any of its lookups can read the new token.
    after = await _until_uncached(a, user, k=3)
    assert top not in [i["item_id"] for i in after["items"]]
    await _until_moved(b)  # B moves its entry when it hears A's swap on the history feed
    assert top not in [i["item_id"] for i in (await _until_uncached(b, user, k=4))["items"]]
    assert (_history_loads(a), _history_loads(b)) == loads
    assert b.app.state.serving.histories.advances == 1


READ_MODEL_TABLES = ("recommender.item", "recommender.interaction", 'recommender."user"')


@contextlib.contextmanager
def _statements(app: FastAPI) -> Iterator[list[str]]:
    """SQL on the read model's tables while inside (the model watcher and the scheduler keep
    their own, unrelated queries)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if any(table in statement for table in READ_MODEL_TABLES):
            seen.append(statement)

    engine = app.state.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)


async def test_an_uncached_answer_reads_sql_only_for_what_changed(
    replicas: tuple[Replica, Replica], read_model: ReadModel, synthetic: SyntheticData
) -> None:
    _, b = replicas
    user = int(synthetic.user_ids[0])
    await b.recommend(user, k=1)  # item table and history in memory
    with _statements(b.app) as statements:
        for k in range(2, 6):  # a new cache key each time: the model scores the user again
            assert (await b.recommend(user, k=k))["cached"] is False
    assert statements == []
    await read_model.interaction(user, int(synthetic.item_ids[0]))
    await _until_moved(b)  # B hears the swap (`history_feed`)
    with _statements(b.app) as statements:
        assert (await b.recommend(user, k=2))["cached"] is False
    assert statements == []
    memory = b.app.state.serving.cache.memory
    heard = memory.notices
    await read_model.user(user, niveau="M1")  # a profile change: the entry goes
    await until_heard(memory, heard)  # B's memory drops the user's answers
    with _statements(b.app) as statements:
        assert (await b.recommend(user, k=2))["cached"] is False
    assert len(statements) == 1  # the user's profile, interactions and shown counts at once
    heard = memory.notices
    await read_model.item(10**6)
    await until_heard(memory, heard)  # B's memory drops every answer
    with _statements(b.app) as statements:
        assert (await b.recommend(user, k=2))["cached"] is False
    assert len(statements) == 3  # the items and their popularity, then the history again


@pytest.mark.parametrize("width", [128, 5])
def test_the_neighbour_table_answers_as_the_model_does(model_blob: bytes, width: int) -> None:
    model = TrainedModel.from_bytes(model_blob)
    table = Neighbours.build(model, width=width)
    assert table.complete is (width >= len(model.item_ids) - 1)
    odd = model.item_ids[model.item_ids % 2 == 1]

    def allowed(ids: np.ndarray) -> np.ndarray:
        return np.isin(ids, odd)

    for item_id in model.item_ids[:6]:
        for k in (1, 3, 10):
            expected = model.similar_items(int(item_id), k, candidates=odd)
            got = table.top(model, int(item_id), k, allowed)
            assert [i for i, _ in got] == [i for i, _ in expected]
            assert np.allclose([s for _, s in got], [s for _, s in expected], atol=1e-6)


def test_each_chosen_item_gets_its_most_similar_anchor(model_blob: bytes) -> None:
    model = TrainedModel.from_bytes(model_blob)
    table = Neighbours.build(model)
    anchors = [int(i) for i in model.item_ids[:3]]
    chosen = model.item_ids[5:12]
    best, similarity = table.closest(model, anchors, chosen)
    for j, item_id in enumerate(chosen):
        sims = [dict(model.similar_items(a, 100)).get(int(item_id), -np.inf) for a in anchors]
        assert best[j] == int(np.argmax(sims))
        assert similarity[j] == pytest.approx(max(sims), abs=1e-6)
