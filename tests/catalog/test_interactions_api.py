"""POST /v1/interactions: the caller's own CLICK / VIEW / DOWNLOAD / RATE, with its event."""

import asyncio
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select, update

from catalog_service.epreuves.models import Epreuve
from catalog_service.interactions.models import Interaction
from catalog_service.outbox.models import OutboxEvent
from shared.events import Event


async def test_click_is_recorded_for_the_caller_with_metadata(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    user, headers = await make_user()
    body = {"epreuve_id": epreuve.id, "kind": "CLICK", "metadata": {"source": "search", "rank": 2}}
    response = await client.post("/v1/interactions", json=body, headers=headers)
    assert response.status_code == 201
    created = response.json()
    assert (created["user_id"], created["epreuve_id"], created["kind"]) == (
        user.id,
        epreuve.id,
        "CLICK",
    )
    assert created["metadata"] == {"source": "search", "rank": 2}
    row = await session.get(Interaction, created["id"])
    assert row is not None and row.meta == {"source": "search", "rank": 2}


async def test_interaction_writes_its_event_in_the_same_transaction(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    user, headers = await make_user()
    body = {"epreuve_id": epreuve.id, "kind": "RATE", "relevance": 4}
    created = (await client.post("/v1/interactions", json=body, headers=headers)).json()
    events = (
        await session.scalars(select(OutboxEvent).where(OutboxEvent.type == "interaction.created"))
    ).all()
    assert len(events) == 1
    payload = events[0].payload
    assert (payload["id"], payload["user_id"], payload["epreuve_id"]) == (
        created["id"], user.id, epreuve.id,
    )  # fmt: skip
    assert (payload["kind"], payload["relevance"]) == ("RATE", 4)


async def test_view_and_download_bump_their_counters(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    for kind in ("VIEW", "VIEW", "DOWNLOAD", "CLICK"):
        body = {"epreuve_id": epreuve.id, "kind": kind}
        assert (
            await client.post("/v1/interactions", json=body, headers=headers)
        ).status_code == 201
    row = (
        await session.execute(
            select(Epreuve.views, Epreuve.downloads).where(Epreuve.id == epreuve.id)
        )
    ).one()
    assert tuple(row) == (2, 1)


async def test_concurrent_views_are_all_counted(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    body = {"epreuve_id": epreuve.id, "kind": "VIEW"}
    responses = await asyncio.gather(
        *(client.post("/v1/interactions", json=body, headers=headers) for _ in range(20))
    )
    assert [r.status_code for r in responses] == [201] * 20
    assert await session.scalar(select(Epreuve.views).where(Epreuve.id == epreuve.id)) == 20


async def test_interaction_requires_a_token(client: httpx.AsyncClient, make_epreuve) -> None:
    epreuve = await make_epreuve()
    response = await client.post(
        "/v1/interactions", json={"epreuve_id": epreuve.id, "kind": "CLICK"}
    )
    assert response.status_code == 401


async def test_interaction_on_unknown_epreuve_is_404_and_writes_nothing(
    client: httpx.AsyncClient, make_user, session
) -> None:
    _, headers = await make_user()
    response = await client.post(
        "/v1/interactions", json={"epreuve_id": 777, "kind": "VIEW"}, headers=headers
    )
    assert response.status_code == 404
    assert response.json()["code"] == "epreuve_not_found"
    types = (await session.scalars(select(OutboxEvent.type))).all()
    assert "interaction.created" not in types


async def test_interaction_on_deleted_epreuve_is_404_and_changes_nothing(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    await session.execute(update(Epreuve).where(Epreuve.id == epreuve.id).values(is_active=False))
    await session.commit()
    _, headers = await make_user()
    outbox_before = (await session.scalars(select(OutboxEvent.id).order_by(OutboxEvent.id))).all()
    for kind in ("DOWNLOAD", "VIEW", "CLICK"):
        body = {"epreuve_id": epreuve.id, "kind": kind}
        response = await client.post("/v1/interactions", json=body, headers=headers)
        assert response.status_code == 404
        assert response.json()["code"] == "epreuve_not_found"
    session.expire_all()
    assert (await session.scalars(select(Interaction.id))).all() == []
    outbox_after = (await session.scalars(select(OutboxEvent.id).order_by(OutboxEvent.id))).all()
    assert outbox_after == outbox_before
    counters = select(Epreuve.views, Epreuve.downloads).where(Epreuve.id == epreuve.id)
    assert tuple((await session.execute(counters)).one()) == (0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"epreuve_id": 1, "kind": "LIKE"}, "kind"),
        ({"epreuve_id": 0, "kind": "CLICK"}, "epreuve_id"),
        ({"kind": "CLICK"}, "epreuve_id"),
        ({"epreuve_id": 1, "kind": "CLICK", "metadata": {"blob": "x" * 5000}}, "metadata"),
        ({"epreuve_id": 1, "kind": "CLICK", "metadata": [1, 2]}, "metadata"),
        ({"epreuve_id": 1, "kind": "CLICK", "relevance": 3}, "relevance"),
        ({"epreuve_id": 1, "kind": "RATE", "relevance": 6}, "relevance"),
        ({"epreuve_id": 1, "kind": "CLICK", "user_id": 2}, "user_id"),
    ],
)
async def test_invalid_interaction_is_422_naming_the_field(
    client: httpx.AsyncClient, make_user, body: dict[str, Any], field: str
) -> None:
    _, headers = await make_user()
    response = await client.post("/v1/interactions", json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == field


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "outbox_relay_enabled": True,
            "events_stream": "test.interactions",
            "outbox_poll_interval": 0.1,
        }
    ],
    indirect=True,
)
async def test_running_relay_publishes_the_interaction_to_the_stream(
    client: httpx.AsyncClient, make_user, make_epreuve, redis_url: str
) -> None:
    epreuve = await make_epreuve()
    user, headers = await make_user()
    body = {"epreuve_id": epreuve.id, "kind": "CLICK"}
    created = (await client.post("/v1/interactions", json=body, headers=headers)).json()
    redis = aioredis.from_url(redis_url)
    try:
        for _ in range(100):
            entries = await redis.xrange("test.interactions")
            events = [Event.from_fields(fields) for _, fields in entries]
            clicks = [e for e in events if e.type == "interaction.created"]
            if clicks:
                break
            await asyncio.sleep(0.05)
    finally:
        await redis.aclose()
    assert [c.payload["id"] for c in clicks] == [created["id"]]
    assert clicks[0].payload["user_id"] == user.id
