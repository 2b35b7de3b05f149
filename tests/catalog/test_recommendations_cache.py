"""The catalog's cache of its final recommendation answers, against the real recommender app:
a repeated request is answered without calling it, and each kind of change retires exactly the
answers it makes stale; no database connection is held while the recommender is called."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy import func, select

from catalog_service.outbox.models import OutboxEvent
from catalog_service.recommendations.cache import AnswerCache
from recommender_service.readmodel.service import Change
from recommender_service.registry import service as registry
from recommender_service.serving.cache import forget as recommender_forget
from shared.enums import InteractionKind, Role
from shared.nearcache import NearCache
from tests.catalog.conftest import MakeUser, one_page_pdf
from tests.catalog.test_recommendations_api import (  # noqa: F401 (fixtures)
    Recommender,
    World,
    _recommend,
    _student_interacts,
    recommender,
    recommender_mode,
    world,
)
from tests.lists import same_list


@pytest.fixture
def settings_overrides(recommender: Recommender) -> dict[str, Any]:  # noqa: F811
    """The relay on: the catalog's own events retire answers as they are published."""
    return {
        "recommender_url": recommender.url,
        "recommender_timeout_s": recommender.timeout_s,
        "recommender_breaker_failures": 3,
        "recommender_breaker_reset_s": 60.0,
        "outbox_relay_enabled": True,
    }


def _calls(recommender: Recommender) -> int:  # noqa: F811
    assert recommender.app is not None
    return recommender.app.calls


async def _drained(app: FastAPI) -> None:
    """Every event so far relayed (and its answers retired): what follows starts from there."""

    async def none_pending() -> bool:
        async with app.state.sessionmaker() as session:
            pending = await session.scalar(
                select(func.count()).where(OutboxEvent.published_at.is_(None))
            )
        return pending == 0

    await _until(none_pending, "the relay published every event")


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def test_a_repeated_request_is_answered_without_calling_the_recommender(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    recommender: Recommender,  # noqa: F811
) -> None:
    await _drained(app)
    first = await _recommend(client, world, k=3)
    assert _calls(recommender) == 1
    for _ in range(3):
        again = await _recommend(client, world, k=3)
        assert same_list(again, first)
    assert _calls(recommender) == 1
    await _recommend(client, world, k=4)  # other parameters: another answer
    assert _calls(recommender) == 2


async def test_the_users_interaction_retires_their_answers_only(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    recommender: Recommender,  # noqa: F811
    make_user: MakeUser,
) -> None:
    _other, other_headers = await make_user(Role.STUDENT)
    await _drained(app)
    first = (await _recommend(client, world, k=3)).json()
    theirs = await client.get("/v1/users/me/recommendations", headers=other_headers)
    assert theirs.status_code == 200
    top = first["items"][0]["id"]
    await _student_interacts(app, world, top, InteractionKind.DOWNLOAD)

    async def dropped() -> bool:
        return top not in [i["id"] for i in (await _recommend(client, world, k=3)).json()["items"]]

    await _until(dropped, "the downloaded paper left the cached list")
    calls = _calls(recommender)
    again = await client.get("/v1/users/me/recommendations", headers=other_headers)
    assert same_list(again, theirs)
    assert _calls(recommender) == calls  # the other student's answer still held


async def test_a_new_active_model_version_retires_every_answer(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    recommender: Recommender,  # noqa: F811
) -> None:
    await _drained(app)
    await _recommend(client, world, k=3)
    await _recommend(client, world, k=3)
    assert _calls(recommender) == 1
    await registry.publish_active(recommender.state.redis, 77)  # what an activation announces

    async def called_again() -> bool:
        await _recommend(client, world, k=3)
        return _calls(recommender) == 2

    await _until(called_again, "the recommender was asked again")


@pytest.mark.parametrize("change", ["edit", "delete", "file"])
async def test_an_epreuve_change_retires_every_answer(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    make_user: MakeUser,
    change: str,
) -> None:
    _admin, admin_headers = await make_user(Role.ADMIN)
    await _drained(app)
    first = (await _recommend(client, world, k=3)).json()
    top = first["items"][0]
    similar = await client.get(f"/v1/epreuves/{world.papers['c']}/similar", headers=world.student)
    assert top["id"] in [i["id"] for i in similar.json()["items"]]
    if change == "edit":
        done = await client.patch(
            f"/v1/epreuves/{top['id']}", json={"title": "Analyse 2, corrigé"}, headers=admin_headers
        )
    elif change == "delete":
        done = await client.delete(f"/v1/epreuves/{top['id']}", headers=admin_headers)
    else:
        bigger = one_page_pdf(padding=4000)
        done = await client.put(
            f"/v1/epreuves/{top['id']}/file",
            files={"file": ("v2.pdf", bigger, "application/pdf")},
            headers=admin_headers,
        )
    assert done.status_code in (200, 204), done.text

    def shows_the_change(items: list[dict[str, Any]]) -> bool:
        card = next((i for i in items if i["id"] == top["id"]), None)
        if change == "delete":
            return card is None
        if change == "edit":
            return card is not None and card["title"] == "Analyse 2, corrigé"
        return card is not None and card["file_size"] == len(bigger)

    async def retired() -> bool:
        mine = (await _recommend(client, world, k=3)).json()["items"]
        path = f"/v1/epreuves/{world.papers['c']}/similar"
        theirs = (await client.get(path, headers=world.student)).json()["items"]
        return shows_the_change(mine) and shows_the_change(theirs)

    await _until(retired, "both cached lists show the épreuve's change")


async def test_a_change_the_recommender_announces_for_the_user_retires_their_answer(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    recommender: Recommender,  # noqa: F811
) -> None:
    await _drained(app)
    await _recommend(client, world, k=3)
    await recommender_forget(recommender.state.redis, [Change(user_id=world.student_id)])

    async def called_again() -> bool:
        await _recommend(client, world, k=3)
        return _calls(recommender) == 2

    await _until(called_again, "the recommender was asked again")
    await app.state.answers.forget(users=[world.student_id + 1000])  # someone else
    await _recommend(client, world, k=3)
    assert _calls(recommender) == 2


async def test_a_second_replica_reads_the_first_ones_answer_from_redis(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    recommender: Recommender,  # noqa: F811
) -> None:
    from catalog_service.main import create_app
    from tests.conftest import asgi_client

    await _drained(app)
    first = await _recommend(client, world, k=3)
    await app.state.answers.writes.drain()  # its Redis copy is written once the answer left
    second_app = create_app(app.state.settings)
    async with asgi_client(second_app, lifespan=True) as second:
        answer = await second.get(
            "/v1/users/me/recommendations", params={"k": 3}, headers=world.student
        )
        assert same_list(answer, first)
        assert _calls(recommender) == 1
        await app.state.answers.forget(users=[world.student_id])  # what the first one's write does

        async def called_again() -> bool:
            await second.get("/v1/users/me/recommendations", params={"k": 3}, headers=world.student)
            return _calls(recommender) == 2

        await _until(called_again, "the second replica asked the recommender again")


@pytest.mark.parametrize("recommender_mode", ["slow"], indirect=True)
@pytest.mark.parametrize("path", ["/v1/users/me/recommendations", "/v1/epreuves/{a}/similar"])
async def test_no_database_connection_is_held_while_the_recommender_is_called(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    recommender: Recommender,  # noqa: F811
    path: str,
) -> None:
    await _drained(app)
    pool = app.state.engine.pool
    request = asyncio.create_task(
        client.get(path.format(a=world.papers["a"]), headers=world.student)
    )

    async def waiting() -> bool:
        return _calls(recommender) == 1

    await _until(waiting, "the recommender was called")
    assert not request.done()
    assert pool.checkedout() == 0
    assert (await request).status_code == 200


async def test_a_posted_interaction_retires_the_answer_before_the_post_is_answered(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    recommender: Recommender,  # noqa: F811
) -> None:
    await _drained(app)
    await app.state.relay.stop()  # only the write path itself: no relay to retire it later
    first = (await _recommend(client, world, k=3)).json()
    top = first["items"][0]["id"]
    posted = await client.post(
        "/v1/interactions", json={"epreuve_id": top, "kind": "DOWNLOAD"}, headers=world.student
    )
    assert posted.status_code == 201, posted.text
    again = (await _recommend(client, world, k=3)).json()
    assert top not in [i["id"] for i in again["items"]]
    assert _calls(recommender) == 2


@pytest.mark.parametrize("route", ["view", "download", "rating"])
async def test_an_interaction_recorded_by_a_read_or_a_rating_retires_the_answer_at_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    recommender: Recommender,  # noqa: F811
    route: str,
) -> None:
    await _drained(app)
    await app.state.relay.stop()  # only the route itself: no relay to retire it later
    top = (await _recommend(client, world, k=3)).json()["items"][0]["id"]
    if route == "view":
        done = await client.get(f"/v1/epreuves/{top}", headers=world.student)
    elif route == "download":
        done = await client.get(f"/v1/epreuves/{top}/file", headers=world.student)
    else:
        rating = {"difficulty": 3, "relevance": 4}
        done = await client.put(
            f"/v1/epreuves/{top}/evaluation", json=rating, headers=world.student
        )
    assert done.status_code in (200, 201), done.text
    again = (await _recommend(client, world, k=3)).json()
    assert top not in [i["id"] for i in again["items"]]
    assert _calls(recommender) == 2


async def test_the_writers_own_memory_forgets_before_its_notice_comes_back(
    redis_url: str,
) -> None:
    """The replica that took a write answers its writer's next request: its memory is emptied
    by `AnswerCache.forget` itself, not only by the notice it publishes (here never heard:
    this memory follows another channel)."""
    redis = aioredis.from_url(redis_url)
    memory = NearCache(redis, scope_channels=["test:elsewhere"])
    stop = asyncio.Event()
    following = asyncio.create_task(memory.run(stop))
    try:
        assert await memory.wait_live(10)
        later = time.time() + 3600
        for scope in ("u:7", "u:8", "i:3"):
            memory.put(scope, "k=3", scope, mark=memory.mark(), expires_at=later)
        answers = AnswerCache(redis, memory, ttl_seconds=60)
        await answers.forget(users=[7])
        assert memory.get("u:7", "k=3") is None
        assert memory.get("u:8", "k=3") == "u:8"
        assert memory.get("i:3", "k=3") == "i:3"
        mark = memory.mark()
        await answers.forget(epreuves_changed=True)
        assert len(memory) == 0
        memory.put("u:8", "k=3", "stale", mark=mark, expires_at=later)  # read before the change
        assert memory.get("u:8", "k=3") is None
        assert memory.notices == 0  # none of it was heard: all done by the writer itself
    finally:
        stop.set()
        await following
        await redis.aclose()
