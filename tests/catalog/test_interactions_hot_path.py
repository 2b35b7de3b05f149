"""The interaction write paths: the typed event of Event.of, the same checks as CurrentUser."""

import asyncio

import httpx
import redis.asyncio as aioredis
from sqlalchemy import func, select, update

from catalog_service.epreuves.models import Epreuve
from catalog_service.errors import NotFound, Unauthorized
from catalog_service.interactions.batcher import IngestBatcher
from catalog_service.interactions.models import Interaction
from catalog_service.interactions.service import RecordedInteraction as Recorded
from catalog_service.outbox.models import OutboxEvent
from catalog_service.outbox.relay import OutboxRelay
from catalog_service.users.models import User
from shared.enums import InteractionKind
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


def _submit(batcher: IngestBatcher, user_id: int, epreuve_id: int, kind: str = "CLICK"):
    return batcher.submit(
        user_id=user_id,
        token_version=0,
        epreuve_id=epreuve_id,
        kind=InteractionKind(kind),
        metadata=None,
        relevance=None,
    )


async def test_concurrent_submissions_share_one_transaction(
    app, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    user, _ = await make_user()
    batcher = IngestBatcher(app.state.engine)
    rows = await asyncio.gather(*(_submit(batcher, user.id, epreuve.id, "VIEW") for _ in range(20)))
    assert (batcher.transactions, batcher.items) == (1, 20)
    assert len({row.id for row in rows}) == 20
    assert await session.scalar(select(func.count()).select_from(Interaction)) == 20
    events = select(func.count()).where(OutboxEvent.type == "interaction.created")
    assert await session.scalar(events) == 20
    assert await session.scalar(select(Epreuve.views).where(Epreuve.id == epreuve.id)) == 20


async def test_concurrent_http_requests_are_coalesced(
    app, client: httpx.AsyncClient, make_user, make_epreuve
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    body = {"epreuve_id": epreuve.id, "kind": "CLICK"}
    responses = await asyncio.gather(
        *(client.post("/v1/interactions", json=body, headers=headers) for _ in range(16))
    )
    assert [r.status_code for r in responses] == [201] * 16
    batcher: IngestBatcher = app.state.ingest_batcher
    # Deterministic, not timing: the 16 request tasks are scheduled before the flusher that
    # the first one creates, and none waits on I/O before it queues its item (the token is
    # checked in memory), so all 16 are queued when the flusher takes its batch.
    assert (batcher.transactions, batcher.items) == (1, 16)


async def test_rejected_items_fail_alone_and_the_rest_of_the_batch_commits(
    app, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    gone = await make_epreuve()
    user, _ = await make_user()
    former, _ = await make_user()
    await session.execute(update(Epreuve).where(Epreuve.id == gone.id).values(is_active=False))
    await session.execute(update(User).where(User.id == former.id).values(is_active=False))
    await session.commit()
    batcher = IngestBatcher(app.state.engine)
    results = await asyncio.gather(
        _submit(batcher, user.id, epreuve.id, "DOWNLOAD"),
        _submit(batcher, user.id, gone.id, "DOWNLOAD"),
        _submit(batcher, former.id, epreuve.id, "DOWNLOAD"),
        _submit(batcher, user.id, epreuve.id, "DOWNLOAD"),
        return_exceptions=True,
    )
    assert batcher.transactions == 1
    assert [type(r) for r in results] == [Recorded, NotFound, Unauthorized, Recorded]
    assert [r.status_code for r in results[1:3]] == [404, 401]
    stored = await session.scalars(select(Interaction.id).order_by(Interaction.id))
    assert list(stored) == [results[0].id, results[3].id]
    assert await session.scalar(select(Epreuve.downloads).where(Epreuve.id == epreuve.id)) == 2
    assert await session.scalar(select(Epreuve.downloads).where(Epreuve.id == gone.id)) == 0


async def test_rejected_http_request_gets_its_4xx_beside_accepted_ones(
    client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    gone = await make_epreuve()
    _, headers = await make_user()
    await session.execute(update(Epreuve).where(Epreuve.id == gone.id).values(is_active=False))
    await session.commit()
    bodies = [{"epreuve_id": e.id, "kind": "CLICK"} for e in (epreuve, gone, epreuve)]
    responses = await asyncio.gather(
        *(client.post("/v1/interactions", json=b, headers=headers) for b in bodies)
    )
    assert [r.status_code for r in responses] == [201, 404, 201]
    assert responses[1].json()["code"] == "epreuve_not_found"


async def test_batch_keeps_each_users_submission_order_on_the_stream(
    app, make_user, make_epreuve, redis_url: str
) -> None:
    epreuves = [await make_epreuve() for _ in range(3)]
    alice, _ = await make_user()
    bob, _ = await make_user()
    batcher = IngestBatcher(app.state.engine)
    order = [(alice, 0), (bob, 2), (alice, 1), (bob, 1), (alice, 2), (bob, 0)]
    await asyncio.gather(*(_submit(batcher, u.id, epreuves[i].id) for u, i in order))
    assert batcher.transactions == 1
    redis = aioredis.from_url(redis_url)
    relay = OutboxRelay(engine=app.state.engine, redis=redis, stream="test.batch-order")
    try:
        await relay.publish_pending()
        entries = await redis.xrange("test.batch-order")
    finally:
        await redis.aclose()
    events = [Event.from_fields(fields) for _, fields in entries]
    published = [e.payload for e in events if e.type == "interaction.created"]
    assert len(published) == 6
    for user in (alice, bob):
        expected = [epreuves[i].id for u, i in order if u is user]
        assert [p["epreuve_id"] for p in published if p["user_id"] == user.id] == expected
