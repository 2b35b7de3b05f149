"""The cards under a ranking (`recommendations.cards`), kept in the memory layer: what a card
says may come from memory, whether it is shown never does; a rating drops its épreuve's card;
an answer built from older cards is kept no longer than they are."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from catalog_service.epreuves import service as epreuves_service
from catalog_service.epreuves.models import Epreuve
from catalog_service.impressions.lists import Listed
from catalog_service.outbox.relay import Published
from catalog_service.recommendations import cards
from catalog_service.recommendations.cache import PREFIX, AnswerCache
from catalog_service.recommendations.cards import CARD_KEY, card_scope, hydrate
from catalog_service.recommendations.schemas import RecommendationQuery
from shared.enums import InteractionKind, Niveau
from shared.freshness import user_scope
from shared.recommendations import RecommendedItem
from tests.catalog.test_recommendations_api import (  # noqa: F401 (fixtures)
    Recommender,
    World,
    _recommend,
    _student_interacts,
    recommender,
    recommender_mode,
    settings_overrides,
    world,
)


def _ranking(papers: World, *names: str) -> list[RecommendedItem]:
    return [
        RecommendedItem(
            item_id=papers.papers[n], score=1.0 - i / 10, reason=f"#{i}", position=i + 1
        )
        for i, n in enumerate(names)
    ]


async def _retitle(app: FastAPI, epreuve_id: int, title: str) -> None:
    """A change no notice announces: only a read from the database can show it."""
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(Epreuve).where(Epreuve.id == epreuve_id).values(title=title))


async def test_cards_may_come_from_memory_but_what_is_shown_is_read_from_the_database(
    app: FastAPI,
    world: World,  # noqa: F811
) -> None:
    memory, engine = app.state.answers.memory, app.state.engine
    assert memory.live
    ranked = _ranking(world, "a", "b", "c", "d", "e")
    first = await hydrate(engine, memory, ranked, unseen_by=world.student_id)
    assert [c["id"] for c in first.cards] == [i.item_id for i in ranked]
    assert [(c["score"], c["reason"]) for c in first.cards] == [(i.score, i.reason) for i in ranked]
    p = world.papers
    await _retitle(app, p["c"], "Unannounced title")
    await _student_interacts(app, world, p["a"], InteractionKind.DOWNLOAD)
    async with app.state.sessionmaker() as session:
        b = await session.get(Epreuve, p["b"])
        assert b is not None
        await epreuves_service.soft_delete(session=session, epreuve=b)

    again = await hydrate(engine, memory, ranked, unseen_by=world.student_id)
    assert [c["id"] for c in again.cards] == [p["c"], p["d"], p["e"]]  # used, deleted: gone
    assert again.cards[0]["title"] == "Épreuve c"  # the card itself from memory
    assert again.read_at == first.read_at
    l3 = await hydrate(engine, memory, ranked, query=RecommendationQuery(niveau=Niveau.L3))
    assert [c["id"] for c in l3.cards] == [p["d"]]
    similar = await hydrate(engine, memory, ranked, besides=p["d"])
    assert [c["id"] for c in similar.cards] == [p["a"], p["c"], p["e"]]


async def test_a_ranking_with_a_card_not_in_memory_reads_them_all_again(
    app: FastAPI,
    world: World,  # noqa: F811
) -> None:
    memory, engine = app.state.answers.memory, app.state.engine
    await hydrate(engine, memory, _ranking(world, "a", "b"))
    await _retitle(app, world.papers["a"], "Analyse 2, new")
    both = await hydrate(engine, memory, _ranking(world, "a", "b", "c"))
    assert [c["title"] for c in both.cards] == ["Analyse 2, new", "Épreuve b", "Épreuve c"]


async def test_a_rating_shows_the_new_averages_in_the_raters_next_answer(
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
) -> None:
    a = world.papers["a"]

    async def card_of_a() -> dict[str, Any]:
        items = (await _recommend(client, world, k=5, exclude_seen=False)).json()["items"]
        return next(i for i in items if i["id"] == a)

    assert (await card_of_a())["avg_difficulty"] is None
    rated = await client.put(
        f"/v1/epreuves/{a}/evaluation",
        json={"difficulty": 4, "relevance": 2},
        headers=world.student,
    )
    assert rated.status_code == 201, rated.text
    after = await card_of_a()
    assert (after["avg_difficulty"], after["avg_relevance"], after["evaluations"]) == (4, 2, 1)


async def _entries(app: FastAPI, scope: str) -> dict[str, bytes]:
    """The user's answers in Redis, once written: field (request and stamp) → `expiry|entry`."""
    await app.state.answers.writes.drain()
    raw = await app.state.redis.hgetall(f"{PREFIX}:{scope}")
    return {k.decode(): v for k, v in raw.items()}


async def test_an_answer_built_from_older_cards_is_kept_until_they_are_as_old_as_its_life(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
) -> None:
    answers: AnswerCache = app.state.answers
    scope = user_scope(world.student_id)
    assert (await _recommend(client, world, k=2)).status_code == 200
    (entry,) = (await _entries(app, scope)).values()
    listed = Listed.from_bytes(entry.partition(b"|")[2])  # a real answer, to store again
    await answers.forget(users=[world.student_id])

    found = await answers.lookup(scope, "again", user_id=world.student_id)
    read_at = time.time() - answers.ttl_seconds / 2
    await answers.store(found, scope, "again", listed, read_at=read_at)
    (entry,) = (await _entries(app, scope)).values()
    assert float(entry.partition(b"|")[0]) == pytest.approx(read_at + answers.ttl_seconds, abs=0.01)

    await answers.forget(users=[world.student_id])
    found = await answers.lookup(scope, "again", user_id=world.student_id)
    too_old = time.time() - answers.ttl_seconds - 1
    await answers.store(found, scope, "again", listed, read_at=too_old)
    assert await _entries(app, scope) == {}
    assert answers.memory.get(scope, "again") is None


async def test_a_rating_relayed_from_any_writer_drops_its_epreuves_card(
    app: FastAPI,
    world: World,  # noqa: F811
) -> None:
    """The relay's net (`forget_events`): a rating by the console or another replica drops the
    card on every replica, as the API's own rating does on the writer's."""
    memory, engine = app.state.answers.memory, app.state.engine
    await hydrate(engine, memory, _ranking(world, "a", "b"))
    a, b = (world.papers[n] for n in ("a", "b"))
    assert memory.get(card_scope(a), CARD_KEY) is not None
    payload = {"user_id": world.student_id, "epreuve_id": a, "difficulty": 3, "relevance": 3}
    await app.state.answers.forget_events([Published("evaluation.upserted", json.dumps(payload))])
    assert memory.get(card_scope(a), CARD_KEY) is None
    assert memory.get(card_scope(b), CARD_KEY) is not None


async def test_whether_a_student_used_the_listed_epreuves_is_read_from_one_index(
    app: FastAPI,
    world: World,  # noqa: F811
) -> None:
    """The (user_id, epreuve_id) index answers it, by a probe per listed épreuve or one read of
    the student's entries, never by the student's rows in the heap, whose cost grew with them."""
    ids = [world.papers[n] for n in ("a", "b", "c")]
    args = (ids, -1, None, None, None, None, world.student_id)
    async with app.state.engine.connect() as conn:
        # The planner may scan a table this small; what matters is that an index can answer.
        await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        await conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        plan = [row[0] for row in await conn.exec_driver_sql("EXPLAIN " + cards._SHOWN, args)]
    on_interaction = [line for line in plan if " on interaction " in line]
    assert on_interaction, plan
    assert all(
        "Index Only Scan using ix_interaction_user_id_epreuve_id" in line for line in on_interaction
    ), plan
