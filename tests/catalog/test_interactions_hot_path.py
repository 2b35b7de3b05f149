"""The one-statement interaction write: same event as Event.of, same checks as CurrentUser."""

from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select, text, update

from catalog_service.epreuves.models import Epreuve
from catalog_service.interactions.models import Interaction
from catalog_service.interactions.service import _ISO_UTC
from catalog_service.outbox.models import OutboxEvent
from catalog_service.users.models import User
from shared.events import Event, InteractionCreated


async def test_outbox_payload_equals_the_typed_payload_dump(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    user, headers = await make_user()
    body = {"epreuve_id": epreuve.id, "kind": "RATE", "relevance": 3}
    created = (await client.post("/v1/interactions", json=body, headers=headers)).json()
    row = await session.get(Interaction, created["id"])
    interaction_events = select(OutboxEvent).where(OutboxEvent.type == "interaction.created")
    event = (await session.scalars(interaction_events)).one()
    expected = InteractionCreated(
        id=row.id,
        user_id=user.id,
        epreuve_id=epreuve.id,
        kind=row.kind,
        created_at=row.created_at,
        relevance=3,
    ).model_dump(mode="json")
    assert event.payload == expected
    assert event.type == "interaction.created"
    stored = Event(
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_at,
        schema_version=event.schema_version,
        payload=event.payload,
    )
    assert stored.parsed() == InteractionCreated.model_validate(expected)


async def test_payload_created_at_without_microseconds_matches_pydantic(session) -> None:
    # The SQL rendering must drop ".000000" exactly as pydantic's JSON mode does.
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    query = text(f"SELECT {_ISO_UTC} FROM (SELECT CAST(:t AS timestamptz) AS created_at) AS i")  # noqa: S608
    rendered = await session.scalar(query, {"t": moment})
    dumped = InteractionCreated(
        id=1, user_id=1, epreuve_id=1, kind="CLICK", created_at=moment
    ).model_dump(mode="json")
    assert rendered == dumped["created_at"] == "2026-01-02T03:04:05Z"


async def test_deactivated_user_is_refused_at_once(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    user, headers = await make_user()
    body = {"epreuve_id": epreuve.id, "kind": "CLICK"}
    assert (await client.post("/v1/interactions", json=body, headers=headers)).status_code == 201
    await session.execute(update(User).where(User.id == user.id).values(is_active=False))
    await session.commit()
    response = await client.post("/v1/interactions", json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "inactive_user"
    count = await session.scalar(select(func.count(Interaction.id)))
    assert count == 1


async def test_view_leaves_the_epreuve_updated_at_unchanged(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    body = {"epreuve_id": epreuve.id, "kind": "VIEW"}
    assert (await client.post("/v1/interactions", json=body, headers=headers)).status_code == 201
    updated_at = await session.scalar(select(Epreuve.updated_at).where(Epreuve.id == epreuve.id))
    assert updated_at == epreuve.updated_at
