"""What every list the recommender serves carries and how it is re-ranked, over HTTP: a fresh
`recommendation_id` per answer (cached too) and positions; the A/B arm of the user; diversity
(MMR, the plain ranking at 0); rotation of items shown N times without an interaction."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.ml.pipeline import fit
from recommender_service.readmodel.impressions import apply_impressions
from recommender_service.registry import service as registry
from recommender_service.serving.arms import arm_of
from recommender_service.serving.rerank import POOL_PER_ITEM, Rotation, rerank
from shared.enums import Surface
from shared.events import ImpressionRecorded
from tests.recommender.conftest import CONFIG, ReadModel, make_settings
from tests.recommender.synthetic import SyntheticData

ROTATION_AFTER = 3


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    # Strong damping, counts read at every miss: rotation shows in one list.
    return make_settings(
        database_url, redis_url, tmp_path, rotation_after=ROTATION_AFTER, rotation_factor=0.01,
        rotation_refresh_seconds=0,
    )  # fmt: skip


async def _list(client: httpx.AsyncClient, user_id: int, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/v1/users/{user_id}/recommendations", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _ids(answer: dict[str, Any]) -> list[int]:
    return [item["item_id"] for item in answer["items"]]


async def test_every_answer_has_its_own_id_and_positions_even_from_the_cache(
    client: httpx.AsyncClient, served: int, synthetic: SyntheticData
) -> None:
    user_id = int(synthetic.user_ids[0])
    answers = [await _list(client, user_id, k=5) for _ in range(3)]
    assert [a["cached"] for a in answers] == [False, True, True]
    assert len({uuid.UUID(a["recommendation_id"]) for a in answers}) == 3
    for answer in answers:
        assert [i["position"] for i in answer["items"]] == [1, 2, 3, 4, 5]
        assert (answer["arm"], answer["experiment_id"]) == (None, None)
    assert _ids(answers[0]) == _ids(answers[2])
    item = int(synthetic.item_ids[0])
    similar = [(await client.get(f"/v1/items/{item}/similar", params={"k": 3})).json()
               for _ in range(2)]  # fmt: skip
    assert similar[0]["recommendation_id"] != similar[1]["recommendation_id"]
    assert [i["position"] for i in similar[1]["items"]] == [1, 2, 3]


async def test_diversity_0_is_the_plain_ranking_and_more_is_mmr_over_the_best_candidates(
    client: httpx.AsyncClient, served: int, synthetic: SyntheticData, app: Any
) -> None:
    user_id = int(synthetic.user_ids[0])
    plain = await _list(client, user_id, k=4)
    assert _ids(await _list(client, user_id, k=4, diversity=0)) == _ids(plain)
    pool = await _list(client, user_id, k=4 * POOL_PER_ITEM)  # the candidates, best first
    ids = np.array(_ids(pool))
    scores = np.array([i["score"] for i in pool["items"]])
    active = app.state.serving.holder.current
    vectors = active.unit_vectors[np.searchsorted(active.model.item_ids, ids)]
    for diversity in (0.5, 1.0):
        off = Rotation(after=1, factor=1.0)
        expected = ids[rerank(ids, scores, vectors, k=4, diversity=diversity, rotation=off,
                              shown={}, engaged=())]  # fmt: skip
        assert _ids(await _list(client, user_id, k=4, diversity=diversity)) == expected.tolist()
    bad = await client.get(f"/v1/users/{user_id}/recommendations", params={"diversity": 1.5})
    assert (bad.status_code, bad.json()["message"].split(":")[0]) == (422, "diversity")


async def _shown(sessionmaker: async_sessionmaker[AsyncSession], user_id: int, items: list[int],
                 times: int) -> None:  # fmt: skip
    async with sessionmaker() as session, session.begin():
        await apply_impressions(session, [
            ImpressionRecorded(id=uuid.uuid4(), user_id=user_id, surface=Surface.RECOMMENDATIONS,
                               item_ids=items, source="recommender", shown_at=datetime.now(UTC))
            for _ in range(times)
        ])  # fmt: skip


@pytest.mark.parametrize(("times", "damped"), [(ROTATION_AFTER - 1, False), (ROTATION_AFTER, True)])
async def test_rotation_damps_an_item_after_n_unclicked_impressions_and_not_before(
    client: httpx.AsyncClient,
    served: int,
    synthetic: SyntheticData,
    sessionmaker: async_sessionmaker[AsyncSession],
    times: int,
    damped: bool,
) -> None:
    user_id = int(synthetic.user_ids[0])
    top = _ids(await _list(client, user_id, k=5))[0]
    await _shown(sessionmaker, user_id, [top], times)
    later = _ids(await _list(client, user_id, k=6))  # other parameters: computed anew
    assert (top not in later) is damped
    if not damped:
        assert later[0] == top


async def test_rotation_spares_an_item_the_user_interacted_with(
    client: httpx.AsyncClient,
    served: int,
    synthetic: SyntheticData,
    sessionmaker: async_sessionmaker[AsyncSession],
    read_model: ReadModel,
) -> None:
    user_id = int(synthetic.user_ids[0])
    top = _ids(await _list(client, user_id, k=5, exclude_seen=False))[0]
    await read_model.interaction(user_id, top, "CLICK", days_ago=0.01)
    await _shown(sessionmaker, user_id, [top], ROTATION_AFTER + 2)
    assert _ids(await _list(client, user_id, k=6, exclude_seen=False))[0] == top


@pytest.fixture(scope="module")
def candidate_blob(synthetic: SyntheticData) -> bytes:
    return fit(synthetic.interactions(), replace(CONFIG, seed=11)).to_bytes()


async def _register(sm: async_sessionmaker[AsyncSession], blob: bytes) -> int:
    async with sm() as session, session.begin():
        version = await registry.create_version(
            session=session, algorithm="neumf", hyperparameters={}, trigger="test"
        )
        await registry.complete_version(
            session=session, version_id=version.id, blob=blob, metrics={"ndcg@10": 0.5},
            n_users=40, n_items=24, n_interactions=1200, train_seconds=1.0,
            data_snapshot_at=version.created_at,
        )  # fmt: skip
        return version.id


async def test_during_an_experiment_each_user_is_served_by_the_model_of_their_arm(
    client: httpx.AsyncClient,
    served: int,
    synthetic: SyntheticData,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    candidate_blob: bytes,
    app: Any,
) -> None:
    users = sorted({int(u) for u in synthetic.user_ids})
    before = {u: await _list(client, u, k=3) for u in users}
    candidate = await _register(sessionmaker, candidate_blob)
    started = await client.post(
        "/v1/experiments", json={"candidate_version": candidate, "traffic": 0.5}
    )
    assert started.status_code == 201, started.text
    experiment = started.json()["id"]
    for _ in range(200):
        if app.state.serving.holder.experiment_id == experiment:
            break
        await asyncio.sleep(0.05)
    assert app.state.serving.holder.experiment_id == experiment
    arms = {u: arm_of(experiment, u, 0.5).value for u in users}
    assert set(arms.values()) == {"control", "candidate"}
    for user_id in users:
        answer = await _list(client, user_id, k=3)  # the cached answers are not served
        assert (answer["arm"], answer["experiment_id"]) == (arms[user_id], experiment)
        version = candidate if arms[user_id] == "candidate" else served
        assert answer["model_version"] == version
        if arms[user_id] == "control":
            assert _ids(answer) == _ids(before[user_id])
    assert (await client.delete("/v1/experiments/current")).status_code == 200
    for _ in range(200):
        if app.state.serving.holder.experiment_id is None:
            break
        await asyncio.sleep(0.05)
    after = await _list(client, users[0], k=3)
    assert (after["arm"], after["experiment_id"], after["model_version"]) == (None, None, served)
