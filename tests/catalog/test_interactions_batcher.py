"""The group commit under failure: poison requests, batch splits, deadlocks, cancelled callers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from catalog_service.epreuves.models import Epreuve
from catalog_service.errors import Invalid
from catalog_service.interactions.batcher import IngestBatcher
from catalog_service.interactions.models import Interaction
from catalog_service.interactions.service import RecordedInteraction as Recorded
from catalog_service.interactions.service import created_event
from catalog_service.outbox.models import OutboxEvent
from shared.database import asyncpg_url
from shared.enums import InteractionKind
from shared.events import InteractionCreated
from shared.http_errors import is_unavailable
from tests.catalog.fixtures_events import wait_until


def _submit(batcher: IngestBatcher, user_id: int, epreuve_id: int, **fields):
    return batcher.submit(
        user_id=user_id,
        token_version=0,
        epreuve_id=epreuve_id,
        kind=InteractionKind(fields.get("kind", "VIEW")),
        metadata=fields.get("metadata"),
        relevance=None,
    )


async def _interaction_events(session: AsyncSession) -> list[dict]:
    """The `interaction.created` payloads, in outbox (= stream) order."""
    query = (
        select(OutboxEvent.payload)
        .where(OutboxEvent.type == "interaction.created")
        .order_by(OutboxEvent.id)
    )
    return list((await session.scalars(query)).all())


async def _views(session: AsyncSession, epreuve_id: int) -> int:
    session.expire_all()
    return int(await session.scalar(select(Epreuve.views).where(Epreuve.id == epreuve_id)) or 0)


@pytest.fixture
async def poison_constraint(database_url: str, session: AsyncSession) -> AsyncIterator[None]:
    """A CHECK that refuses interactions whose metadata has a "poison" key: a request that
    passes every check of the API and still fails in PostgreSQL (SQLSTATE 23514)."""
    conn = await asyncpg.connect(asyncpg_url(database_url).replace("+asyncpg", ""))
    await conn.execute(
        "ALTER TABLE catalog.interaction ADD CONSTRAINT test_poison"
        " CHECK (metadata IS NULL OR NOT metadata ? 'poison')"
    )
    try:
        yield
    finally:
        await session.rollback()  # the test's reads would hold off the ALTER TABLE
        await conn.execute("ALTER TABLE catalog.interaction DROP CONSTRAINT test_poison")
        await conn.close()


async def test_sixteen_valid_requests_commit_beside_four_the_database_refuses(
    app, client: httpx.AsyncClient, make_user, make_epreuve, session, poison_constraint
) -> None:
    epreuve = await make_epreuve()
    users = [await make_user() for _ in range(4)]
    # Sent at the same moment: each user's 4 valid views, with one poison after the 2nd.
    requests: list[tuple[int, dict[str, str], dict]] = []
    for user, headers in users:
        for n in range(5):
            metadata = {"poison": True} if n == 2 else {"n": n}
            body = {"epreuve_id": epreuve.id, "kind": "VIEW", "metadata": metadata}
            requests.append((user.id, headers, body))
    responses = await asyncio.gather(
        *(client.post("/v1/interactions", json=body, headers=h) for _, h, body in requests)
    )

    poisoned = ["poison" in body["metadata"] for _, _, body in requests]
    assert [r.status_code for r in responses] == [422 if p else 201 for p in poisoned]
    for response, poison in zip(responses, poisoned, strict=True):
        if poison:
            assert response.json()["code"] == "invalid_interaction"
            assert response.json()["details"] == {"sqlstate": "23514"}
    created = [r.json() for r, p in zip(responses, poisoned, strict=True) if not p]
    rows = (await session.scalars(select(Interaction).order_by(Interaction.id))).all()
    assert sorted(c["id"] for c in created) == [row.id for row in rows]
    assert len(rows) == 16
    assert not any("poison" in (row.meta or {}) for row in rows)
    events = await _interaction_events(session)
    assert sorted(e["id"] for e in events) == [row.id for row in rows]  # each exactly once
    sent_as = {row.id: row.meta["n"] for row in rows}
    assert await _views(session, epreuve.id) == 16
    for user, _ in users:  # each user's events in submission order
        assert [sent_as[e["id"]] for e in events if e["user_id"] == user.id] == [0, 1, 3, 4]


async def test_each_event_of_a_batch_is_the_payload_of_its_row_as_stored(
    app, make_user, make_epreuve, session
) -> None:
    """The statement sets the interaction id it draws in the payload that `created_event`
    encoded: each event is the one the stored row would give."""
    epreuve = await make_epreuve()
    users = [(await make_user())[0] for _ in range(3)]
    batcher = IngestBatcher(app.state.engine)
    kinds = ["VIEW", "CLICK", "DOWNLOAD", "RATE"]
    answers = await asyncio.gather(
        *(
            batcher.submit(
                user_id=user.id,
                token_version=0,
                epreuve_id=epreuve.id,
                kind=InteractionKind(kind),
                metadata={"n": n},
                relevance=4 if kind == "RATE" else None,
            )
            for n, (user, kind) in enumerate((u, k) for u in users for k in kinds)
        )
    )

    assert batcher.transactions == 1
    rows = (await session.scalars(select(Interaction).order_by(Interaction.id))).all()
    # The 201s are the rows as stored, and each event is its row's typed payload.
    fields = ("id", "user_id", "epreuve_id", "kind", "relevance", "created_at")
    assert [[getattr(a, f) for f in fields] for a in answers] == [
        [getattr(r, f) for f in fields] for r in rows
    ]
    events = [InteractionCreated.model_validate(e) for e in await _interaction_events(session)]
    assert events == [created_event(a) for a in answers]


async def test_a_nul_in_metadata_that_escaped_validation_fails_alone(
    app, make_user, make_epreuve, session
) -> None:
    """Straight to the batcher (the API refuses NUL at the edge): PostgreSQL's own refusal."""
    epreuve = await make_epreuve()
    user, _ = await make_user()
    batcher = IngestBatcher(app.state.engine)
    poison = {3, 8, 13, 18}
    results = await asyncio.gather(
        *(
            _submit(batcher, user.id, epreuve.id, metadata={"q": "a\x00b" if n in poison else n})
            for n in range(20)
        ),
        return_exceptions=True,
    )

    refused = [n for n, r in enumerate(results) if isinstance(r, Invalid)]
    assert refused == sorted(poison)
    assert {r.details["sqlstate"][:2] for r in results if isinstance(r, Invalid)} == {"22"}
    written = [r for r in results if isinstance(r, Recorded)]
    assert len(written) == 16
    rows = (await session.scalars(select(Interaction.id).order_by(Interaction.id))).all()
    assert [r.id for r in written] == list(rows)  # stored in submission order
    assert [e["id"] for e in await _interaction_events(session)] == list(rows)
    assert await _views(session, epreuve.id) == 16
    assert batcher.items == 16


async def test_metadata_that_is_not_plain_json_never_joins_a_batch(
    app, client: httpx.AsyncClient, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    _, headers = await make_user()
    raw = f'{{"epreuve_id": {epreuve.id}, "kind": "CLICK", "metadata": {{"x": NaN}}}}'
    response = await client.post(
        "/v1/interactions",
        content=raw,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "metadata"
    batcher: IngestBatcher | None = getattr(app.state, "ingest_batcher", None)
    assert batcher is None or (batcher.transactions, batcher.items) == (0, 0)
    assert await session.scalar(select(func.count()).select_from(Interaction)) == 0


async def test_batches_over_max_batch_are_written_in_submission_order(
    app, make_user, make_epreuve, session
) -> None:
    epreuves = [await make_epreuve() for _ in range(10)]
    alice, _ = await make_user()
    bob, _ = await make_user()
    batcher = IngestBatcher(app.state.engine, max_batch=4)
    order = [(alice if n % 3 else bob, epreuves[n]) for n in range(10)]
    results = await asyncio.gather(*(_submit(batcher, u.id, e.id) for u, e in order))

    assert (batcher.transactions, batcher.items) == (3, 10)  # 4 + 4 + 2
    assert [(r.user_id, r.epreuve_id) for r in results] == [(u.id, e.id) for u, e in order]
    rows = (await session.scalars(select(Interaction.id).order_by(Interaction.id))).all()
    assert [r.id for r in results] == list(rows)
    events = await _interaction_events(session)
    assert [(e["user_id"], e["epreuve_id"]) for e in events] == [(u.id, e.id) for u, e in order]


async def test_a_deadlocked_batch_is_retried_and_commits_once(
    app, database_url: str, make_user, make_epreuve, session
) -> None:
    """Another transaction holds the user's order lock, then wants the épreuve row the batch
    has locked. Only the batch's connection looks for deadlocks within the test (after 2 s;
    the other's deadlock_timeout is 1 h), so PostgreSQL aborts the batch: it is written again."""
    epreuve = await make_epreuve()
    user, _ = await make_user()
    url = asyncpg_url(database_url)
    engine = create_async_engine(url, connect_args={"server_settings": {"deadlock_timeout": "2s"}})
    other = await asyncpg.connect(url.replace("+asyncpg", ""))
    batcher = IngestBatcher(engine)
    try:
        await other.execute("SET deadlock_timeout = '1h'")
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT pg_advisory_xact_lock($1, $2)", 0x0B0C, user.id)
        write = asyncio.create_task(_submit(batcher, user.id, epreuve.id))

        async def batch_waits_for_the_order_lock() -> bool:
            query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            return await other.fetchval(query) == 1

        await wait_until(batch_waits_for_the_order_lock, limit=30)
        locked = "SELECT id FROM catalog.epreuve WHERE id = $1 FOR UPDATE"
        assert await asyncio.wait_for(other.fetchval(locked, epreuve.id), 60) == epreuve.id
        await transaction.commit()
        row = await asyncio.wait_for(write, 60)
    finally:
        await other.close()
        await engine.dispose()

    assert (batcher.retries, batcher.transactions) == (1, 1)
    assert (await session.scalars(select(Interaction.id))).all() == [row.id]
    assert [e["id"] for e in await _interaction_events(session)] == [row.id]
    assert await _views(session, epreuve.id) == 1


async def test_a_cancelled_request_leaves_the_others_writes_intact(
    app, make_user, make_epreuve, session
) -> None:
    epreuve = await make_epreuve()
    user, _ = await make_user()
    batcher = IngestBatcher(app.state.engine)
    tasks = [asyncio.create_task(_submit(batcher, user.id, epreuve.id)) for _ in range(3)]
    await asyncio.sleep(0)  # all three queued in one batch
    tasks[1].cancel()  # its client went away while the batch is written
    first, cancelled, last = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(cancelled, asyncio.CancelledError)
    assert isinstance(first, Recorded) and isinstance(last, Recorded)
    assert (batcher.transactions, batcher.items) == (1, 3)
    # The cancelled request was already in the batch: its write is kept, never half-done.
    rows = (await session.scalars(select(Interaction.id).order_by(Interaction.id))).all()
    assert len(rows) == 3 and {first.id, last.id} < set(rows)
    assert [e["id"] for e in await _interaction_events(session)] == list(rows)
    assert await _views(session, epreuve.id) == 3


async def test_other_users_batches_commit_while_one_waits_and_each_users_order_holds(
    app, database_url: str, make_user, make_epreuve, session
) -> None:
    """Alice's first view waits on an épreuve row another transaction holds. Bob's click is
    written by a transaction of its own meanwhile; Alice's next request waits for her first
    one, and both reach the stream in her order."""
    held, other = await make_epreuve(), await make_epreuve()
    alice, _ = await make_user()
    bob, _ = await make_user()
    batcher = IngestBatcher(app.state.engine)
    blocker = await asyncpg.connect(asyncpg_url(database_url).replace("+asyncpg", ""))
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT id FROM catalog.epreuve WHERE id = $1 FOR UPDATE", held.id)
        first = asyncio.create_task(_submit(batcher, alice.id, held.id))

        async def alices_batch_waits_for_the_row() -> bool:
            query = "SELECT count(*) FROM pg_locks WHERE locktype = 'tuple' OR NOT granted"
            return bool(await blocker.fetchval(query))

        await wait_until(alices_batch_waits_for_the_row, limit=30)
        later = asyncio.create_task(_submit(batcher, alice.id, other.id, kind="CLICK"))
        bobs = await asyncio.wait_for(_submit(batcher, bob.id, other.id, kind="CLICK"), 60)
        assert not first.done() and not later.done()
        assert (await session.scalars(select(Interaction.id))).all() == [bobs.id]
        await transaction.rollback()
        firsts, laters = await asyncio.wait_for(asyncio.gather(first, later), 60)
    finally:
        await blocker.close()

    assert bobs.id < firsts.id < laters.id
    assert batcher.transactions == 3
    events = [e for e in await _interaction_events(session) if e["user_id"] == alice.id]
    assert [e["epreuve_id"] for e in events] == [held.id, other.id]


# In the text of the group commit's statement, as asyncpg prepares it (a Parse message, with
# its name); asyncpg then runs it with a Bind message that names it (then Execute and Sync).
_WRITE_MARK = b"FOR NO KEY UPDATE"
_READY = b"Z\x00\x00\x00\x05I"  # ReadyForQuery, outside any transaction block


def _messages(data: bytes) -> Iterator[tuple[bytes, list[bytes]]]:
    """The frontend messages in `data`: each one's type and NUL-separated fields."""
    at = 0
    while at + 5 <= len(data):
        length = int.from_bytes(data[at + 1 : at + 5], "big")
        yield data[at : at + 1], data[at + 5 : at + 1 + length].split(b"\x00")
        at += 1 + length


def _prepared(data: bytes, mark: bytes) -> bytes | None:
    """The name of the statement that a Parse message of `data` prepares with `mark` in it."""
    for kind, fields in _messages(data):
        if kind == b"P" and len(fields) > 1 and mark in fields[1]:
            return fields[0]  # Parse: name, text, ...
    return None


def _binds(data: bytes, statement: bytes) -> bool:
    """Whether `data` runs prepared `statement`: a Bind message naming it (portal, statement)."""
    return any(k == b"B" and f[1:2] == [statement] for k, f in _messages(data))


class _WriteCutter:
    """A loopback TCP proxy to the test database that loses one connection as it runs the
    group commit's statement. `forward=True` delivers the statement once the client, on a new
    connection, has seen its backend still running (idle, the statement not yet delivered) and
    asked again, and drops the server's answer: the statement committed, its client cannot
    know. `forward=False` drops the statement itself."""

    def __init__(self, database_url: str, *, forward: bool) -> None:
        url = make_url(asyncpg_url(database_url))
        socket_dir = url.query.get("host") or url.host or ""
        self._unix = isinstance(socket_dir, str) and socket_dir.startswith("/")
        self._upstream = (
            f"{socket_dir}/.s.PGSQL.{url.port or 5432}" if self._unix else (url.host, url.port)
        )
        self._url = url
        self._forward = forward
        self.cut = asyncio.Event()
        # The client asked twice, on new connections, whether the backend still runs: it saw
        # the backend running and waited.
        self._polls = 0
        self._waited = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        query = {k: v for k, v in self._url.query.items() if k != "host"}
        return self._url.set(host="127.0.0.1", port=port, query=query).render_as_string(
            hide_password=False
        )

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._unix:
            up_reader, up_writer = await asyncio.open_unix_connection(self._upstream)
        else:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        replies = asyncio.create_task(self._pump(up_reader, writer))
        write = poll = None  # the prepared names of the write and of the outcome's poll
        try:
            while data := await reader.read(65536):
                write = write or _prepared(data, _WRITE_MARK)
                if write and not self.cut.is_set() and _binds(data, write):
                    self.cut.set()
                    # The client loses its connection now, before the server's answer.
                    replies.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await replies
                    if self._forward:  # the server runs and commits it; the answer is dropped
                        await asyncio.wait_for(self._waited.wait(), 60)
                        up_writer.write(data)
                        await up_writer.drain()
                        answer = b""
                        while _READY not in answer and (chunk := await up_reader.read(65536)):
                            answer += chunk
                    break
                poll = poll or _prepared(data, b"pg_stat_activity")
                if self.cut.is_set() and poll and _binds(data, poll):
                    self._polls += 1
                    if self._polls == 2:
                        self._waited.set()
                up_writer.write(data)
                await up_writer.drain()
        finally:
            replies.cancel()
            writer.close()
            up_writer.close()

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()  # the server hung up: so does the proxy, as a direct socket would


@pytest.mark.parametrize("delivered", [True, False], ids=["write-delivered", "write-lost"])
async def test_a_connection_lost_during_the_write_is_answered_by_what_the_database_did(
    app, database_url: str, make_user, make_epreuve, session, delivered: bool
) -> None:
    """A 201 when the statement reached PostgreSQL and committed (a 503 would make the
    client's retry a duplicate), a 503 and nothing stored when it did not."""
    epreuve = await make_epreuve()
    user, _ = await make_user()
    async with _WriteCutter(database_url, forward=delivered) as proxied:
        engine = create_async_engine(proxied)
        batcher = IngestBatcher(engine, outcome_seconds=60)
        try:
            result = await asyncio.gather(
                _submit(batcher, user.id, epreuve.id), return_exceptions=True
            )
        finally:
            await engine.dispose()

    stored = (await session.scalars(select(Interaction.id))).all()
    events = await _interaction_events(session)
    if delivered:
        assert isinstance(result[0], Recorded), result
        assert stored == [result[0].id]
        assert [e["id"] for e in events] == stored
        assert batcher.lost_commits_resolved == 1
    else:
        assert is_unavailable(result[0]), result
        assert (stored, events) == ([], [])
        assert batcher.lost_commits_resolved == 0
