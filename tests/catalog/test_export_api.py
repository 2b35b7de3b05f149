"""GET /internal/export/*: service credential, keyset pages, payload-shaped items, hand-over."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from catalog_service.outbox.relay import OutboxRelay
from shared.enums import Role
from shared.events import (
    EpreuveUpserted,
    EvaluationUpserted,
    Event,
    InteractionCreated,
    UserUpserted,
)
from shared.service_auth import SERVICE_KEY_HEADER
from tests.catalog.conftest import SERVICE_KEY, MakeEpreuve, MakeUser

KEY = {SERVICE_KEY_HEADER: SERVICE_KEY}
KINDS = ["users", "epreuves", "interactions", "evaluations"]


@pytest.mark.parametrize("kind", KINDS)
async def test_export_without_the_service_key_is_401(client: httpx.AsyncClient, kind: str) -> None:
    missing = await client.get(f"/internal/export/{kind}")
    wrong = await client.get(f"/internal/export/{kind}", headers={SERVICE_KEY_HEADER: "nope"})

    assert [missing.status_code, wrong.status_code] == [401, 401]
    assert wrong.json()["code"] == "invalid_service_key"


async def test_a_user_token_does_not_open_the_export(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    _, admin = await make_user(Role.ADMIN)

    response = await client.get("/internal/export/users", headers=admin)

    assert response.status_code == 401


async def test_users_are_exported_as_user_upserted_payloads_page_by_page(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    users = [(await make_user())[0] for _ in range(3)]

    first = await client.get("/internal/export/users", params={"limit": 2}, headers=KEY)
    after = first.json()["next_after_id"]
    second = await client.get(
        "/internal/export/users", params={"limit": 2, "after_id": after}, headers=KEY
    )

    assert first.status_code == 200
    assert after == users[1].id
    assert second.json()["next_after_id"] is None
    items = first.json()["items"] + second.json()["items"]
    assert [UserUpserted.model_validate(i) for i in items] == [
        UserUpserted(
            id=u.id, niveau=u.niveau, filiere=u.filiere, role=u.role, is_active=u.is_active
        )
        for u in users
    ]
    assert set(items[0]) == set(UserUpserted.model_fields)


async def test_deleted_epreuves_are_exported_inactive(
    client: httpx.AsyncClient, session: AsyncSession, make_epreuve: MakeEpreuve
) -> None:
    kept = await make_epreuve(title="Examen d'algèbre")
    deleted = await make_epreuve()
    await session.execute(update(Epreuve).where(Epreuve.id == deleted.id).values(is_active=False))
    await session.commit()

    body = (await client.get("/internal/export/epreuves", headers=KEY)).json()

    items = [EpreuveUpserted.model_validate(i) for i in body["items"]]
    assert [(i.id, i.title, i.is_active) for i in items] == [
        (kept.id, "Examen d'algèbre", True),
        (deleted.id, "Partiel d'analyse", False),
    ]
    assert set(body["items"][0]) == set(EpreuveUpserted.model_fields)
    assert body["next_after_id"] is None


async def test_interactions_and_evaluations_match_what_the_api_recorded(
    client: httpx.AsyncClient, make_user: MakeUser, make_epreuve: MakeEpreuve
) -> None:
    epreuve = await make_epreuve()
    user, headers = await make_user()
    click = await client.post(
        "/v1/interactions", json={"epreuve_id": epreuve.id, "kind": "CLICK"}, headers=headers
    )
    rated = await client.put(
        f"/v1/epreuves/{epreuve.id}/evaluation",
        json={"difficulty": 2, "relevance": 4},
        headers=headers,
    )

    interactions = (await client.get("/internal/export/interactions", headers=KEY)).json()
    evaluations = (await client.get("/internal/export/evaluations", headers=KEY)).json()

    parsed = [InteractionCreated.model_validate(i) for i in interactions["items"]]
    assert [(i.id, i.user_id, i.epreuve_id, i.kind.value, i.relevance) for i in parsed] == [
        (click.json()["id"], user.id, epreuve.id, "CLICK", None),
        (click.json()["id"] + 1, user.id, epreuve.id, "RATE", 4),
    ]
    assert [EvaluationUpserted.model_validate(e) for e in evaluations["items"]] == [
        EvaluationUpserted.model_validate(
            {**rated.json(), "user_id": user.id, "epreuve_id": epreuve.id}
        )
    ]


async def test_stream_last_id_is_the_newest_published_event(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    before = (await client.get("/internal/export/users", headers=KEY)).json()
    await make_user()
    await make_user()
    relay = OutboxRelay(engine=app.state.engine, redis=app.state.redis, stream="export.test")
    await relay.publish_pending()

    after = (await client.get("/internal/export/users", headers=KEY)).json()

    [(last_id, fields)] = await app.state.redis.xrevrange("export.test", count=1)
    assert before["stream_last_id"] == "0-0"
    assert after["stream_last_id"] == last_id.decode()
    assert Event.from_fields(fields).payload["id"] == after["items"][-1]["id"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 5001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"after_id": -1}, "after_id"),
        ({"after_id": "x"}, "after_id"),
    ],
)
async def test_out_of_range_paging_is_422_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, object], field: str
) -> None:
    response = await client.get("/internal/export/interactions", params=params, headers=KEY)

    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == field
