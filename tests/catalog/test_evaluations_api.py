"""PUT /v1/epreuves/{id}/evaluation, GET …/evaluation and GET …/evaluations."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from catalog_service.interactions.models import Interaction
from catalog_service.outbox.models import OutboxEvent
from shared.enums import InteractionKind
from tests.catalog.conftest import MakeEpreuve, MakeUser


def _url(epreuve_id: int, suffix: str = "evaluation") -> str:
    return f"/v1/epreuves/{epreuve_id}/{suffix}"


async def test_first_rating_is_created_with_the_new_aggregates(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()

    response = await client.put(
        _url(epreuve.id), json={"difficulty": 4, "relevance": 5}, headers=headers
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["epreuve_id"], body["difficulty"], body["relevance"]) == (epreuve.id, 4, 5)
    assert body["epreuve"] == {
        "epreuve_id": epreuve.id,
        "evaluations": 1,
        "avg_difficulty": 4.0,
        "avg_relevance": 5.0,
    }


async def test_rating_again_replaces_the_rating(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    _, other = await make_user()
    await client.put(_url(epreuve.id), json={"difficulty": 1, "relevance": 1}, headers=other)
    await client.put(_url(epreuve.id), json={"difficulty": 4, "relevance": 5}, headers=headers)

    response = await client.put(
        _url(epreuve.id), json={"difficulty": 2, "relevance": 3}, headers=headers
    )

    assert response.status_code == 200
    assert response.json()["epreuve"] == {
        "epreuve_id": epreuve.id,
        "evaluations": 2,
        "avg_difficulty": 1.5,
        "avg_relevance": 2.0,
    }
    shown = (await client.get(f"/v1/epreuves/{epreuve.id}", headers=headers)).json()
    assert (shown["avg_difficulty"], shown["avg_relevance"], shown["evaluations"]) == (1.5, 2.0, 2)


async def test_rating_records_a_rate_interaction_and_an_evaluation_event(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    user, headers = await make_user()

    await client.put(_url(epreuve.id), json={"difficulty": 3, "relevance": 4}, headers=headers)

    interactions = (await session.scalars(select(Interaction))).all()
    assert [(i.user_id, i.kind, i.relevance) for i in interactions] == [
        (user.id, InteractionKind.RATE, 4)
    ]
    events = (
        await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.type == "evaluation.upserted")
        )
    ).all()
    assert len(events) == 1
    assert {k: events[0][k] for k in ("user_id", "epreuve_id", "difficulty", "relevance")} == {
        "user_id": user.id,
        "epreuve_id": epreuve.id,
        "difficulty": 3,
        "relevance": 4,
    }


async def test_fifty_concurrent_raters_leave_exact_averages_and_count(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    raters = [(await make_user())[1] for _ in range(50)]
    scores = {i: (i % 5 + 1, (3 * i) % 5 + 1) for i in range(50)}
    rescored = {i: ((i * 7) % 5 + 1, 5) for i in range(0, 50, 2)}

    async def rate(i: int, difficulty: int, relevance: int) -> int:
        body = {"difficulty": difficulty, "relevance": relevance}
        return (await client.put(_url(epreuve.id), json=body, headers=raters[i])).status_code

    first = await asyncio.gather(*(rate(i, *s) for i, s in scores.items()))
    # Half re-rate while the other half rate... again with the same scores (no change).
    again = await asyncio.gather(
        *(rate(i, *rescored.get(i, scores[i])) for i in range(50)),
    )

    assert first == [201] * 50
    assert again == [200] * 50
    final = {**scores, **rescored}
    summary = (await client.get(_url(epreuve.id, "evaluations"), headers=raters[0])).json()
    assert summary["evaluations"] == 50
    assert summary["avg_difficulty"] == sum(d for d, _ in final.values()) / 50
    assert summary["avg_relevance"] == sum(r for _, r in final.values()) / 50
    shown = (await client.get(f"/v1/epreuves/{epreuve.id}", headers=raters[0])).json()
    assert shown["evaluations"] == 50
    assert shown["avg_difficulty"] == summary["avg_difficulty"]
    assert shown["avg_relevance"] == summary["avg_relevance"]


async def test_summary_gives_histograms_and_no_identity(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    for difficulty, relevance in [(1, 5), (1, 4), (3, 5)]:
        _, headers = await make_user()
        await client.put(
            _url(epreuve.id),
            json={"difficulty": difficulty, "relevance": relevance},
            headers=headers,
        )
    _, viewer = await make_user()

    response = await client.get(_url(epreuve.id, "evaluations"), headers=viewer)

    assert response.status_code == 200
    assert response.json() == {
        "epreuve_id": epreuve.id,
        "evaluations": 3,
        "avg_difficulty": 5 / 3,
        "avg_relevance": 14 / 3,
        "difficulty_histogram": {"1": 2, "2": 0, "3": 1, "4": 0, "5": 0},
        "relevance_histogram": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 2},
    }


async def test_summary_of_an_unrated_epreuve_is_empty(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()

    body = (await client.get(_url(epreuve.id, "evaluations"), headers=headers)).json()

    assert (body["evaluations"], body["avg_difficulty"], body["avg_relevance"]) == (0, None, None)
    assert body["difficulty_histogram"] == {str(s): 0 for s in range(1, 6)}


async def test_own_evaluation_is_returned_to_its_author_only(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    _, other = await make_user()
    await client.put(_url(epreuve.id), json={"difficulty": 2, "relevance": 3}, headers=headers)

    mine = await client.get(_url(epreuve.id), headers=headers)
    theirs = await client.get(_url(epreuve.id), headers=other)

    assert mine.status_code == 200
    assert (mine.json()["difficulty"], mine.json()["relevance"]) == (2, 3)
    assert theirs.status_code == 404
    assert theirs.json()["code"] == "evaluation_not_found"


async def test_rating_without_a_token_is_401(
    client: httpx.AsyncClient, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()

    put = await client.put(_url(epreuve.id), json={"difficulty": 2, "relevance": 3})
    summary = await client.get(_url(epreuve.id, "evaluations"))
    own = await client.get(_url(epreuve.id))

    assert [put.status_code, summary.status_code, own.status_code] == [401, 401, 401]
    assert put.json()["code"] == "unauthorized"


async def test_scores_out_of_range_are_422_naming_the_field(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()

    high = await client.put(
        _url(epreuve.id), json={"difficulty": 6, "relevance": 3}, headers=headers
    )
    low = await client.put(
        _url(epreuve.id), json={"difficulty": 3, "relevance": 0}, headers=headers
    )
    missing = await client.put(_url(epreuve.id), json={"difficulty": 3}, headers=headers)
    text = await client.put(
        _url(epreuve.id), json={"difficulty": "hard", "relevance": 3}, headers=headers
    )

    assert [r.status_code for r in (high, low, missing, text)] == [422] * 4
    assert [r.json()["details"][0]["field"] for r in (high, low, missing, text)] == [
        "difficulty",
        "relevance",
        "relevance",
        "difficulty",
    ]


async def test_rating_an_unknown_or_deleted_epreuve_is_404(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    deleted = await make_epreuve()
    await session.execute(update(Epreuve).where(Epreuve.id == deleted.id).values(is_active=False))
    await session.commit()
    _, headers = await make_user()
    body = {"difficulty": 3, "relevance": 3}

    responses = [
        await client.put(_url(deleted.id), json=body, headers=headers),
        await client.put(_url(999_999), json=body, headers=headers),
        await client.get(_url(999_999, "evaluations"), headers=headers),
        await client.get(_url(deleted.id, "evaluations"), headers=headers),
    ]

    assert [r.status_code for r in responses] == [404] * 4
    assert {r.json()["code"] for r in responses} == {"epreuve_not_found"}


async def test_an_epreuve_id_outside_bigint_is_422_not_500(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    _, headers = await make_user()
    body = {"difficulty": 3, "relevance": 3}

    huge = await client.put(_url(2**63), json=body, headers=headers)
    zero = await client.put(_url(0), json=body, headers=headers)

    assert [huge.status_code, zero.status_code] == [422, 422]
    assert huge.json()["details"][0]["field"] == "epreuve_id"
