"""Lists through the catalog, against the real recommender on uvicorn: each answer has its own
`recommendation_id` and positions, cached or not; each is recorded as an impression without a
database round trip on the cached path; an interaction naming it is attributed to it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_service.impressions.models import Impression
from shared.enums import Role
from tests.catalog.conftest import MakeUser
from tests.catalog.test_recommendations_api import (  # noqa: F401 (fixtures)
    World,
    recommender,
    recommender_mode,
    settings_overrides,
    world,
)

MINE = "/v1/users/me/recommendations"


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL this engine sends meanwhile."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_each_answer_has_its_own_id_positions_and_impression_cached_or_not(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
) -> None:
    log = app.state.impressions
    await log.flush()
    first = await client.get(MINE, params={"k": 3}, headers=world.student)
    assert first.status_code == 200, first.text
    with statements(app.state.engine) as sent:
        again = [await client.get(MINE, params={"k": 3}, headers=world.student) for _ in range(2)]
    assert sent == []  # answered from memory: no database round trip, the impression included
    answers = [r.json() for r in (first, *again)]
    ids = [uuid.UUID(a["recommendation_id"]) for a in answers]
    assert len(set(ids)) == 3
    for answer in answers:
        assert [i["position"] for i in answer["items"]] == [1, 2, 3]
        assert (answer["source"], answer["arm"], answer["experiment_id"]) == (
            "recommender", None, None,
        )  # fmt: skip
    assert len(log) == 3
    assert await log.flush() == 3
    async with app.state.sessionmaker() as session:
        rows = (await session.scalars(select(Impression).where(Impression.id.in_(ids)))).all()
    shown = [i["id"] for i in answers[0]["items"]]
    assert sorted((r.id, r.user_id, r.item_ids, r.source, r.strategy) for r in rows) == sorted(
        (i, world.student_id, shown, "recommender", "popularity") for i in ids
    )


@pytest.mark.parametrize("recommender_mode", ["down"], indirect=True)
async def test_the_catalogs_own_fallback_lists_are_recorded_too(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
) -> None:
    await app.state.impressions.flush()
    answer = (await client.get(MINE, params={"k": 2}, headers=world.student)).json()
    similar = (await client.get(f"/v1/epreuves/{world.papers['a']}/similar",
                                headers=world.student)).json()  # fmt: skip
    assert answer["source"] == similar["source"] == "fallback"
    await app.state.impressions.flush()
    async with app.state.sessionmaker() as session:
        rows = {r.id: r for r in await session.scalars(select(Impression))}
    mine = rows[uuid.UUID(answer["recommendation_id"])]
    like = rows[uuid.UUID(similar["recommendation_id"])]
    assert (mine.surface, mine.strategy, mine.item_ids) == (
        "recommendations", "popularity", [i["id"] for i in answer["items"]],
    )  # fmt: skip
    assert (like.surface, like.anchor_id, like.strategy) == (
        "similar",
        world.papers["a"],
        "content",
    )


async def test_a_download_of_a_listed_epreuve_naming_its_list_is_attributed_to_its_position(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    make_user: MakeUser,
) -> None:
    params = {"k": 3, "exclude_seen": "false"}
    answer = (await client.get(MINE, params=params, headers=world.student)).json()
    third = answer["items"][2]["id"]
    await app.state.impressions.flush()
    from_list = {"recommendation_id": answer["recommendation_id"]}
    viewed = await client.get(f"/v1/epreuves/{third}", params=from_list, headers=world.student)
    assert viewed.status_code == 200
    _, admin = await make_user(Role.ADMIN)
    stats = (await client.get("/v1/stats/recommendations", headers=admin)).json()
    [group] = stats["groups"]
    assert (group["impressions"], group["engaged"], group["first_positions"]) == (1, 1, {"3": 1})


async def test_diversity_is_passed_on_and_keys_the_cache(
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    up = request.getfixturevalue("recommender")
    calls = up.app.calls
    for value in (0, 0, 1, 0.5, 0.5):
        response = await client.get(MINE, params={"diversity": value}, headers=world.student)
        assert response.status_code == 200
    assert up.app.calls == calls + 3  # one per diversity asked: the repeats were cached
    for value in (-0.1, 1.5, "x"):
        bad = await client.get(MINE, params={"diversity": value}, headers=world.student)
        assert (bad.status_code, bad.json()["details"][0]["field"]) == (422, "diversity")
    similar = f"/v1/epreuves/{world.papers['a']}/similar"
    bad = await client.get(similar, params={"diversity": 2}, headers=world.student)
    assert bad.status_code == 422


def test_a_users_answer_is_kept_only_under_the_experiment_it_names() -> None:
    from catalog_service.recommendations.cache import Found

    none_running, running = Found(None, "t|1|5|0|2|t", 0), Found(None, "t|1|5|7|2|t", 0)
    assert none_running.names_experiment(None) and not none_running.names_experiment(7)
    assert running.names_experiment(7) and not running.names_experiment(None)
    assert not Found(None, None, 0).names_experiment(None)  # Redis could not say
