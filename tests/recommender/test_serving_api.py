"""Serving over HTTP: personalised lists, filters, cache, hot swap, cold start, auth, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from recommender_service.api.serving_router import fast_recommendations
from recommender_service.main import create_app
from recommender_service.serving.reasons import LIKE_YOURS, NEW_IN_FILIERE
from shared.enums import Filiere, Niveau
from shared.events import EpreuveDeleted
from shared.service_auth import SERVICE_KEY_HEADER
from tests.recommender.conftest import (
    SERVICE_KEY,
    ReadModel,
    install,
    load_synthetic,
    make_settings,
    publish,
    publish_download,
    service_client,
    until_heard,
    wait_for_version,
)
from tests.recommender.synthetic import SyntheticData


def _seen(data: SyntheticData, user_id: int) -> set[int]:
    return {int(i) for i in data.item_ids[data.user_ids == user_id]}


async def _recommend(client: httpx.AsyncClient, user_id: int, **params: object) -> dict:
    response = await client.get(f"/v1/users/{user_id}/recommendations", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_requests_without_the_service_key_are_refused(client: httpx.AsyncClient) -> None:
    for headers in ({SERVICE_KEY_HEADER: ""}, {SERVICE_KEY_HEADER: "wrong"}):
        response = await client.get("/v1/users/1/recommendations", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
    assert (await client.get("/healthz", headers={SERVICE_KEY_HEADER: ""})).status_code == 200


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/users/1/recommendations?k=0", "k"),
        ("/v1/users/1/recommendations?k=101", "k"),
        ("/v1/users/1/recommendations?niveau=L9", "niveau"),
        ("/v1/users/abc/recommendations", "user_id"),
        ("/v1/items/1/similar?k=abc", "k"),
        ("/v1/models?limit=0", "limit"),
    ],
)
async def test_bad_parameters_are_a_422_naming_the_field(
    client: httpx.AsyncClient, path: str, field: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["message"].startswith(f"{field}:")


async def test_without_a_model_a_user_gets_popularity_in_their_niveau_and_filiere(
    client: httpx.AsyncClient, read_model: ReadModel
) -> None:
    await read_model.user(1, "L2", "MATH")
    for item_id, niveau, filiere in [(10, "L2", "MATH"), (11, "L2", "MATH"), (12, "L1", "INFO")]:
        await read_model.item(item_id, niveau=niveau, filiere=filiere)
    for user_id in (2, 3, 4):
        await read_model.interaction(user_id, 12)  # the most popular, but not L2 MATH
    await read_model.interaction(2, 11)
    body = await _recommend(client, 1, k=3)
    assert (body["model_version"], body["fallback"]) == (None, "popularity")
    assert [i["item_id"] for i in body["items"]] == [11, 10, 12]
    assert [i["reason"] for i in body["items"]][:2] == ["popular in L2 MATH"] * 2
    assert body["items"][2]["reason"] == "popular with students"


async def test_personalised_list_excludes_what_the_user_has_seen(
    client: httpx.AsyncClient, served: int, synthetic: SyntheticData
) -> None:
    user_id = int(synthetic.user_ids[0])
    seen = _seen(synthetic, user_id)
    body = await _recommend(client, user_id, k=100)
    assert (body["model_version"], body["fallback"]) == (served, None)
    ids = [i["item_id"] for i in body["items"]]
    assert len(ids) == 24 - len(seen)
    assert not set(ids) & seen
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    titles = {f"{synthetic.item_matiere[i]} {i}" for i in seen}
    reasons = [i["reason"] for i in body["items"]]
    explained = [r for r in reasons if r.startswith("because you ")]
    assert explained
    assert all(r.split(" ", 3)[3] in titles for r in explained)  # "because you <verb> <title>"
    honest = {LIKE_YOURS, NEW_IN_FILIERE} | {
        f"popular in {n.value} {f.value}" for n in Niveau for f in Filiere
    }
    assert set(reasons) - set(explained) <= honest
    everything = await _recommend(client, user_id, k=100, exclude_seen=False)
    assert len(everything["items"]) == 24


async def test_filters_hold(
    client: httpx.AsyncClient, served: int, synthetic: SyntheticData
) -> None:
    user_id = int(synthetic.user_ids[0])
    for params, field in [({"filiere": "INFO"}, "filiere"), ({"niveau": "L3"}, "niveau")]:
        body = await _recommend(client, user_id, k=100, exclude_seen=False, **params)
        expected = {i for i, v in getattr(synthetic, f"item_{field}").items() if v == params[field]}
        assert {i["item_id"] for i in body["items"]} == expected
    matiere = synthetic.item_matiere[int(synthetic.item_ids[0])]
    body = await _recommend(client, user_id, k=100, exclude_seen=False, matiere=matiere.upper())
    assert {i["matiere"] for i in body["items"]} == {matiere}
    item_type = synthetic.item_type[int(synthetic.item_ids[0])]
    body = await _recommend(client, user_id, k=100, exclude_seen=False, type=item_type)
    assert {i["type"] for i in body["items"]} == {item_type}


async def test_the_second_call_is_served_from_the_cache(
    client: httpx.AsyncClient, served: int, synthetic: SyntheticData
) -> None:
    user_id = int(synthetic.user_ids[0])
    first = await _recommend(client, user_id, k=5)
    second = await _recommend(client, user_id, k=5)
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["items"] == first["items"]
    stats = (await client.get("/v1/stats")).json()
    assert stats["cache"] == {"hits": 1, "memory_hits": 1, "misses": 1}
    assert (await _recommend(client, user_id, k=6))["cached"] is False  # other parameters


@pytest.fixture
async def consuming_client(
    database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose background consumer runs, as in production."""
    app = create_app(make_settings(database_url, redis_url, tmp_path, consumer_enabled=True))
    async with service_client(app, lifespan=True) as c:
        yield c


async def test_an_item_deleted_through_the_stream_leaves_the_same_cached_request(
    consuming_client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    synthetic: SyntheticData,
    model_blob: bytes,
) -> None:
    await load_synthetic(sessionmaker, synthetic)
    await wait_for_version(consuming_client, await install(sessionmaker, redis, model_blob))
    user_id = int(synthetic.user_ids[0])
    params = {"k": 100, "exclude_seen": False}
    before = await _recommend(consuming_client, user_id, **params)
    assert (await _recommend(consuming_client, user_id, **params))["cached"] is True
    first = before["items"][0]["item_id"]
    await publish(redis, EpreuveDeleted(id=first))
    for _ in range(200):
        after = await _recommend(consuming_client, user_id, **params)
        if not after["cached"]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the cached answer outlived the deletion")
    ids = [i["item_id"] for i in after["items"]]
    assert ids == [i["item_id"] for i in before["items"] if i["item_id"] != first]


async def test_an_interaction_event_invalidates_that_users_cache(
    consuming_client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    synthetic: SyntheticData,
    model_blob: bytes,
) -> None:
    await load_synthetic(sessionmaker, synthetic)
    await wait_for_version(consuming_client, await install(sessionmaker, redis, model_blob))
    user_id = int(synthetic.user_ids[0])
    top = (await _recommend(consuming_client, user_id, k=3))["items"][0]["item_id"]
    assert (await _recommend(consuming_client, user_id, k=3))["cached"] is True
    await publish_download(redis, user_id, top)
    for _ in range(100):
        body = await _recommend(consuming_client, user_id, k=3)
        if not body["cached"]:
            break
        await asyncio.sleep(0.05)
    assert body["cached"] is False
    assert top not in [i["item_id"] for i in body["items"]]


async def test_a_new_active_version_is_picked_up_without_restart(
    client: httpx.AsyncClient,
    served: int,
    synthetic: SyntheticData,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    model_blob: bytes,
) -> None:
    user_id = int(synthetic.user_ids[0])
    assert (await _recommend(client, user_id))["model_version"] == served
    newer = await install(sessionmaker, redis, model_blob)
    versions = set()
    for _ in range(100):  # every request answers while the swap happens
        versions.add((await _recommend(client, user_id))["model_version"])
        if newer in versions:
            break
        await asyncio.sleep(0.02)
    assert newer in versions
    assert versions <= {served, newer}


async def test_a_replica_keeps_its_model_when_the_new_artefact_fails_to_load(
    app: FastAPI,
    client: httpx.AsyncClient,
    served: int,
    synthetic: SyntheticData,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
) -> None:
    holder = app.state.serving.holder
    broken = await install(sessionmaker, redis, b"not a model artefact")
    for _ in range(200):  # the watcher tried it
        if holder.unloadable == broken:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the watcher never tried the new version")
    body = await _recommend(client, int(synthetic.user_ids[0]))
    assert (body["model_version"], body["fallback"]) == (served, None)
    assert (await client.get("/v1/model")).json()["served_version"] == served
    assert await holder.refresh(sessionmaker) is False  # not reloaded on every poll
    assert holder.version_id == served


async def test_an_unknown_user_gets_popularity(client: httpx.AsyncClient, served: int) -> None:
    body = await _recommend(client, 999_999, k=5)
    assert (body["model_version"], body["fallback"]) == (None, "popularity")
    assert len(body["items"]) == 5
    assert {i["reason"] for i in body["items"]} == {"popular with students"}


async def test_a_new_user_with_fresh_interactions_gets_items_similar_to_them(
    client: httpx.AsyncClient, served: int, synthetic: SyntheticData, read_model: ReadModel
) -> None:
    anchor = int(synthetic.item_ids[0])
    await read_model.user(77, "L1", "INFO")
    await read_model.interaction(77, anchor, "DOWNLOAD", days_ago=0)
    body = await _recommend(client, 77, k=5)
    assert (body["model_version"], body["fallback"]) == (served, "similar-to-recent")
    assert len(body["items"]) == 5
    assert anchor not in [i["item_id"] for i in body["items"]]
    title = f"{synthetic.item_matiere[anchor]} {anchor}"
    assert {i["reason"] for i in body["items"]} == {f"because you downloaded {title}"}


async def test_similar_items_come_from_the_model(
    client: httpx.AsyncClient, served: int, synthetic: SyntheticData
) -> None:
    item_id = int(synthetic.item_ids[0])
    body = (await client.get(f"/v1/items/{item_id}/similar", params={"k": 5})).json()
    assert (body["model_version"], body["fallback"]) == (served, None)
    ids = [i["item_id"] for i in body["items"]]
    assert len(ids) == 5
    assert item_id not in ids


async def test_an_item_the_model_does_not_know_gets_content_neighbours(
    client: httpx.AsyncClient, served: int, read_model: ReadModel
) -> None:
    await read_model.item(9001, niveau="M2", filiere="CHIMIE", matiere="Catalyse")
    await read_model.item(9002, niveau="M2", filiere="CHIMIE", matiere="Catalyse")
    await read_model.item(9003, niveau="M1", filiere="CHIMIE", matiere="catalyse")
    body = (await client.get("/v1/items/9001/similar", params={"k": 2})).json()
    assert (body["model_version"], body["fallback"]) == (served, "content")
    assert [i["item_id"] for i in body["items"]] == [9002, 9003]


async def test_an_item_unknown_everywhere_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/items/424242/similar")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def _samples(client: httpx.AsyncClient, name: str) -> dict[str, float]:
    """The samples of one metric family in `/metrics`, by their labels."""
    text = (await client.get("/metrics")).text
    return {
        ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def test_health_readiness_and_metrics_count_each_lookup(
    app: FastAPI, client: httpx.AsyncClient, read_model: ReadModel
) -> None:
    assert (await client.get("/readyz")).json()["status"] == "ready"
    memory = app.state.serving.cache.memory
    heard = memory.notices
    await read_model.user(1)
    await read_model.item(10)
    # Both notices heard before the first answer goes into memory: a late one would empty it.
    await until_heard(memory, heard, 2)
    name = "recommender_cache_lookups_total"
    before = await _samples(client, name)
    await _recommend(client, 1)
    after_miss = await _samples(client, name)
    await _recommend(client, 1)
    after_hit = await _samples(client, name)
    delta = {k: after_miss[k] - before.get(k, 0.0) for k in after_miss}
    assert delta == {"result=memory": 0.0, "result=redis": 0.0, "result=miss": 1.0}
    delta = {k: after_hit[k] - after_miss[k] for k in after_hit}
    assert delta == {"result=memory": 1.0, "result=redis": 0.0, "result=miss": 0.0}


async def test_recommendations_are_served_while_redis_is_down(
    database_url: str, tmp_path: Path, read_model: ReadModel
) -> None:
    from shared.devstack import EmbeddedRedis

    own_redis = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    app = create_app(make_settings(database_url, own_redis.url, tmp_path))
    await read_model.user(1)
    await read_model.item(10)
    try:
        async with service_client(app, lifespan=True) as c:
            own_redis.stop()
            for _ in range(2):
                body = await _recommend(c, 1, k=3)
                assert ([i["item_id"] for i in body["items"]], body["cached"]) == ([10], False)
                assert (await c.get("/readyz")).status_code == 503
    finally:
        own_redis.stop()


def _serving_request(app: FastAPI, user_id: str, query: str, key: str | None) -> Request:
    headers = [] if key is None else [(SERVICE_KEY_HEADER.lower().encode(), key.encode())]
    scope = {
        "type": "http", "method": "GET", "path": f"/v1/users/{user_id}/recommendations",
        "path_params": {"user_id": user_id}, "query_string": query.encode(), "headers": headers,
        "app": app,
    }  # fmt: skip
    return Request(scope)


async def test_the_fast_path_answers_the_catalogs_parameters_as_the_route_does(
    app: FastAPI, client: httpx.AsyncClient, served: int, synthetic: SyntheticData
) -> None:
    """The same list through the fast path (the catalog's parameters) and through the route
    (the same with a repeated parameter, which the route alone reads)."""
    user_id = int(synthetic.user_ids[0])
    query = "k=7&exclude_seen=true&diversity=0.3"
    fast = await fast_recommendations(_serving_request(app, str(user_id), query, SERVICE_KEY))
    assert fast is not None and fast.status_code == 200
    by_fast = json.loads(bytes(fast.body))
    assert (by_fast["model_version"], by_fast["cached"]) == (served, False)
    assert len(by_fast["items"]) == 7
    routed = await client.get(f"/v1/users/{user_id}/recommendations?{query}&k=7")
    assert routed.status_code == 200
    by_route = routed.json()
    assert [i["item_id"] for i in by_route["items"]] == [i["item_id"] for i in by_fast["items"]]


@pytest.mark.parametrize(
    ("user_id", "query", "key"),
    [
        ("1", "k=5", None),
        ("1", "k=5", "wrong"),
        ("01", "k=5", SERVICE_KEY),
        ("abc", "k=5", SERVICE_KEY),
        ("9223372036854775808", "k=5", SERVICE_KEY),
        ("1", "k=0", SERVICE_KEY),
        ("1", "k=5&k=6", SERVICE_KEY),
        ("1", "niveau=L2", SERVICE_KEY),
        ("1", "diversity=2", SERVICE_KEY),
    ],
)
async def test_the_fast_path_leaves_the_rest_to_the_route(
    app: FastAPI, user_id: str, query: str, key: str | None
) -> None:
    assert await fast_recommendations(_serving_request(app, user_id, query, key)) is None
