"""EASE^R, iALS, `neumf_features` and `auto` through the whole service: the training job
registers the family, the replica loads its artefact, and both answers come from that model's
scores and items."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.ml.artifact import TrainedModel
from recommender_service.registry import service as registry
from tests.recommender.conftest import ReadModel, load_synthetic, train_version
from tests.recommender.synthetic import generate

pytestmark = pytest.mark.slow


async def _served(client: httpx.AsyncClient, version_id: int) -> None:
    for _ in range(200):
        if (await client.get("/v1/model")).json()["served_version"] == version_id:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"version {version_id} never served")


@pytest.mark.parametrize("family", ["ease", "ials", "neumf_features", "auto"])
async def test_a_trained_family_serves_its_own_scores_and_neighbours(
    family: str,
    settings: Settings,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
) -> None:
    data = generate(40, 24, 1200, seed=3)
    await load_synthetic(sessionmaker, data)
    overrides = {"recommender_model": family, "train_refit_full": True}
    outcome = await train_version(settings.model_copy(update=overrides), sessionmaker, redis)
    assert outcome.activated
    version = (await client.get("/v1/models")).json()["items"][0]
    async with sessionmaker() as session:
        blob = await registry.load_artifact(session=session, version_id=outcome.version_id)
    model = TrainedModel.from_bytes(blob)
    if family == "auto":
        candidates = version["metrics"]["candidates"]
        assert {"ease", "ials", "neumf"} <= set(candidates)
        assert [n for n, row in candidates.items() if row["chosen"]] == [model.algorithm]
    else:
        assert model.algorithm == family
    assert version["algorithm"] == model.algorithm == version["hyperparameters"]["model"]
    await _served(client, outcome.version_id)

    user_id = int(data.user_ids[0])
    response = await client.get(f"/v1/users/{user_id}/recommendations", params={"k": 5})
    body = response.json()
    assert (body["model_version"], body["fallback"]) == (outcome.version_id, None)
    scores = model.scores_for_user(user_id)
    assert scores is not None
    seen = set(data.item_ids[data.user_ids == user_id].tolist())
    unseen = np.array([s for i, s in zip(model.item_ids, scores, strict=True) if i not in seen])
    by_item = dict(zip(model.item_ids.tolist(), scores.tolist(), strict=True))
    served = [(i["item_id"], i["score"]) for i in body["items"]]
    # The score shown is the version's calibration of the raw one (rounded to 6 decimals).
    best = np.sort(unseen)[::-1][:5]
    assert [s for _, s in served] == pytest.approx(model.calibrated(best).tolist(), abs=1e-6)
    shown = {i: float(model.calibrated(np.array([by_item[i]]))[0]) for i, _ in served}
    assert all(shown[i] == pytest.approx(s, abs=1e-6) and i not in seen for i, s in served)
    assert all(0 <= s <= 1 for _, s in served)

    item_id = int(model.item_ids[2])
    body = (await client.get(f"/v1/items/{item_id}/similar", params={"k": 4})).json()
    assert (body["model_version"], body["fallback"]) == (outcome.version_id, None)
    expected = model.similar_items(item_id, 4, candidates=model.item_ids)
    assert [i["item_id"] for i in body["items"]] == [i for i, _ in expected]
    cosines = [max(s, 0.0) for _, s in expected]  # shown 0–1
    assert [i["score"] for i in body["items"]] == pytest.approx(cosines, abs=1e-6)


async def test_features_rank_a_new_paper_and_a_new_student_from_their_metadata(
    settings: Settings,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    read_model: ReadModel,
) -> None:
    data = generate(300, 200, 12_000, seed=1)  # enough for the features to learn the filières
    await load_synthetic(sessionmaker, data)
    overrides = {
        "recommender_model": "neumf_features", "train_refit_full": True, "train_epochs": 15,
        "train_embedding_dim": 16, "train_batch_size": 512,
    }  # fmt: skip
    outcome = await train_version(settings.model_copy(update=overrides), sessionmaker, redis)
    await _served(client, outcome.version_id)
    # After training: a paper nobody has touched, and a student with a profile only.
    user_id = int(data.user_ids[0])
    filiere, niveau = data.user_filiere[user_id], data.user_niveau[user_id]
    await read_model.item(9_001, filiere=filiere, niveau=niveau)
    await read_model.user(9_002, niveau=niveau, filiere=filiere)

    body = (await client.get(f"/v1/users/{user_id}/recommendations", params={"k": 100})).json()
    assert (body["model_version"], body["fallback"]) == (outcome.version_id, None)
    assert 9_001 in [i["item_id"] for i in body["items"]]
    assert all(0 <= i["score"] <= 1 for i in body["items"])

    body = (await client.get("/v1/users/9002/recommendations", params={"k": 10})).json()
    assert (body["model_version"], body["fallback"]) == (outcome.version_id, None)
    own = [i for i in body["items"] if i["filiere"] == filiere]
    assert len(own) >= 6, body["items"]  # planted: 8x the affinity for one's own filière
    assert not any(i["reason"].startswith("because you") for i in body["items"])
