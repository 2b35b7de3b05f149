"""Group commit for POST /v1/interactions: concurrent requests share one transaction.

Each request queues its validated interaction and waits. A dispatcher task, started when the
first item arrives and ending when the queue is empty, hands what is pending (up to `max_batch`)
to a writer task, which writes it in one transaction, then resolves each request with its row:
a 201 is only sent after COMMIT. Idle, a request is written at once (the dispatcher runs at the
next loop turn); under load the items that arrive while batches are being written form the next
batch, and once a run of the dispatcher has handed one batch over it lingers a moment
(`linger_seconds`, 5 ms) before the next, as PostgreSQL's `commit_delay` does: the
per-transaction cost (round trips, COMMIT's WAL flush, the cache
retirement, the relay pass) is then shared by more requests, and on a CPU-bound server that is
what bounds the rate.

Up to `max_in_flight` batches (3) are written at once, each in its own transaction: while one
waits on PostgreSQL, the process parses the requests of the next instead of idling until the
first is answered (32 clients, runs interleaved on one stack: 1,610-1,930/s, mean 1,730, one
at a time; 1,750-2,150/s, mean 1,940, three at once). A user's requests stay in submission
order: a request whose user has a batch in flight waits for it to commit, and holds back that
user's later requests, so two batches in flight never share a user.

The write is one statement, outside any transaction block (PostgreSQL commits it as it ends:
one round trip a batch, where BEGIN, a lock, the write, the outbox insert and COMMIT took five).
It (1) locks the épreuve rows whose counters move, in id order (NO KEY UPDATE: the
interactions' foreign-key checks take KEY SHARE locks, which a FOR UPDATE would conflict with,
in no set order); (2) keeps the inputs whose user is active (and whose token is of the user's
current version: auth.revocation) and whose épreuve is active, inserts their interactions (ids
drawn in input order) and bumps the counters; (3) takes the users' order locks, in key order,
and inserts the accepted rows' `interaction.created` events into the outbox (SQL composed by
`outbox.service`; the payload as `created_event` encodes it, the database setting the id it
draws); and returns per input whether it was accepted. Every writer takes épreuve
rows before order locks, so batches of several workers do not deadlock.

A rejected input gets its own 401 / 404. Poison isolation: what can be checked before the
database is checked in `submit` (metadata that is not plain JSON never joins a batch); a batch
that the database still refuses for one request's data (a data exception, a constraint) is
split in halves, each in its own statement, until the faulty request is alone: it gets its 422
and every other request is committed, in submission order. Nothing costs more in the common
case (no savepoint per request). A failure that is nobody's data (the database is down) fails
the batch's requests alike, with one exception: a connection lost once the statement was sent
(a restart right after its WAL flush) leaves the outcome unknown to the client, so the batch
asks PostgreSQL, on a new connection once the backend that ran it has ended, which of its
events (ids drawn here) are stored, and answers 201s for those.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_service.errors import Invalid, NotFound, Unauthorized
from catalog_service.interactions.service import RecordedInteraction, created_event
from catalog_service.outbox import wakeup
from catalog_service.outbox.service import insert_rows, lock_keys, order_locks
from shared.database import driver_connection
from shared.enums import InteractionKind
from shared.events import EventType
from shared.http_errors import is_unavailable

logger = logging.getLogger(__name__)

# The payload as `created_event` encoded it, with the interaction id the statement draws.
_OUTBOX = insert_rows(
    source="accepted",
    where=order_locks("$11", after="(SELECT n FROM locked) IS NOT NULL"),
    event_id="accepted.event_id",
    type_=f"'{EventType.INTERACTION_CREATED.value}'",
    occurred_at="$12::timestamptz",
    payload="jsonb_set(CAST(accepted.payload AS jsonb), '{id}', to_jsonb(accepted.id))",
)
# One statement, run outside any transaction block: PostgreSQL commits it as it ends, so a
# batch costs one round trip (BEGIN, a lock, the write, the outbox insert and COMMIT were five:
# two thirds of a batch's time on a quiet host went to the round trips and their parsing).
# created_at is the batch's time, set before the statement (its events' occurred_at). The lock
# order of every writer: épreuve rows (`locked`: `accepted`, the counters' update and the order
# locks wait on it), then the users' order locks (before the outbox ids).
_WRITE = """
WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::smallint[],
                         $6::int[], $7::uuid[], $8::uuid[], $9::text[])
        WITH ORDINALITY AS t (user_id, epreuve_id, kind, metadata, relevance, token_version,
                              recommendation_id, event_id, payload, ord)
),
locked AS (
    SELECT count(*) AS n FROM (SELECT id FROM catalog.epreuve WHERE id = ANY($10::bigint[])
                               ORDER BY id FOR NO KEY UPDATE) AS rows
),
users AS (SELECT id, is_active, token_version FROM catalog."user" WHERE id = ANY($1::bigint[])),
ok_epreuve AS (SELECT id FROM catalog.epreuve WHERE id = ANY($2::bigint[]) AND is_active),
accepted AS MATERIALIZED (
    SELECT s.*, nextval(pg_get_serial_sequence('catalog.interaction', 'id')) AS id
    FROM (SELECT input.* FROM input
          JOIN users ON users.id = input.user_id AND users.is_active
                    AND users.token_version = input.token_version
          JOIN ok_epreuve ON ok_epreuve.id = input.epreuve_id
          WHERE (SELECT n FROM locked) IS NOT NULL
          ORDER BY input.ord) AS s
),
i AS (
    INSERT INTO catalog.interaction (id, user_id, epreuve_id, kind, metadata, relevance,
                                     created_at, recommendation_id)
    SELECT id, user_id, epreuve_id, kind, CAST(metadata AS jsonb), relevance, $12::timestamptz,
           recommendation_id
    FROM accepted
),
c AS (
    UPDATE catalog.epreuve AS e
    SET views = e.views + b.views, downloads = e.downloads + b.downloads
    FROM (SELECT epreuve_id, count(*) FILTER (WHERE kind = 'VIEW') AS views,
                 count(*) FILTER (WHERE kind = 'DOWNLOAD') AS downloads
          FROM accepted WHERE kind IN ('VIEW', 'DOWNLOAD') GROUP BY epreuve_id) AS b
    WHERE e.id = b.epreuve_id
),
o AS (<OUTBOX>)
SELECT input.ord, coalesce(users.is_active, false) AS active,
       users.token_version IS NOT DISTINCT FROM input.token_version AS current, accepted.id
FROM input
LEFT JOIN users ON users.id = input.user_id
LEFT JOIN accepted ON accepted.ord = input.ord
ORDER BY input.ord""".replace("<OUTBOX>", _OUTBOX)
# A lost answer's outcome, once the database answers again: first whether the backend that ran
# the statement still runs (it may commit yet), then, in a later statement (a later snapshot),
# whether the batch's events are stored (pids are not reused within seconds).
_BACKEND_RUNS = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1"
_STORED = """
SELECT event_id, CAST(payload->>'id' AS bigint) AS id
FROM catalog.outbox_event WHERE event_id = ANY($1::uuid[])"""
_DEADLOCK = "40P01"
_ATTEMPTS = 3
_COUNTED = (InteractionKind.VIEW, InteractionKind.DOWNLOAD)
# SQLSTATE classes caused by one request's own values: data exception, integrity constraint
# violation, program limit exceeded (e.g. a value too deeply nested).
_REQUEST_FAULTS = ("22", "23", "54")


@dataclass(slots=True)
class Pending:
    user_id: int
    token_version: int
    epreuve_id: int
    kind: InteractionKind
    metadata: dict[str, Any] | None
    metadata_json: str | None
    relevance: int | None
    recommendation_id: uuid.UUID | None
    future: asyncio.Future[RecordedInteraction]


class IngestBatcher:
    """One per process and engine (see interactions.dependencies)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 256,
        linger_seconds: float = 0.005,
        max_in_flight: int = 3,
        outcome_seconds: float = 15.0,
        on_committed: Callable[[set[int]], Awaitable[None]] | None = None,
    ) -> None:
        """`on_committed` hears the users of each committed batch before any of them is
        answered, so that what their writes make stale is gone when they ask again.
        `linger_seconds`: under a steady flow, how long a batch waits for more requests after
        the previous one (an idle batcher writes a request at once). `max_in_flight`: batches
        written at once, each in its own transaction (and pooled connection).
        `outcome_seconds`: how long a batch whose COMMIT was lost with its connection waits for
        the database to say whether it committed (past that, its requests get 503s)."""
        self.engine = engine
        self._linger = linger_seconds
        self._on_committed = on_committed
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._queue: list[Pending] = []
        self._dispatcher: asyncio.Task[None] | None = None
        self._writers: set[asyncio.Task[None]] = set()
        self._busy_users: set[int] = set()  # users with a batch in flight
        # Observability (and tests): transactions committed, interactions they carried, and
        # deadlocked attempts retried.
        self.transactions = 0
        self.items = 0
        self.retries = 0
        self.lost_commits_resolved = 0
        self._outcome_seconds = outcome_seconds

    async def submit(
        self,
        *,
        user_id: int,
        token_version: int,
        epreuve_id: int,
        kind: InteractionKind,
        metadata: dict[str, Any] | None,
        relevance: int | None,
        recommendation_id: uuid.UUID | None = None,
    ) -> RecordedInteraction:
        """Queues the interaction for the next group commit; its row once committed.

        `token_version`: the caller's token's `ver` (a revoked token gets its 401 here).
        Invalid (422) at once, before joining a batch, when `metadata` is not plain JSON.
        """
        metadata_json = _metadata_json(metadata)
        future: asyncio.Future[RecordedInteraction] = asyncio.get_running_loop().create_future()
        pending = Pending(
            user_id, token_version, epreuve_id, kind, metadata, metadata_json, relevance,
            recommendation_id, future,
        )  # fmt: skip
        self._queue.append(pending)
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(
                self._dispatch(), name="interactions-group-commit"
            )
        # A cancelled request (client gone) does not cancel the write of the others.
        return await asyncio.shield(future)

    async def _dispatch(self) -> None:
        handed_over = False
        try:
            while self._queue:
                if len(self._writers) >= self._max_in_flight:
                    await asyncio.wait(self._writers, return_when=asyncio.FIRST_COMPLETED)
                elif handed_over and len(self._queue) < self._max_batch:
                    # Requests keep coming (this run handed a batch over already): let the
                    # next ones join, since a transaction costs the same CPU for 1 or 100.
                    await asyncio.sleep(self._linger)
                batch = self._take()
                if not batch:  # each queued request's user has a batch in flight
                    await asyncio.wait(self._writers, return_when=asyncio.FIRST_COMPLETED)
                    continue
                users = {item.user_id for item in batch}
                self._busy_users |= users  # now, before the writer starts: see _take
                writer = asyncio.create_task(self._write_batch(batch, users))
                self._writers.add(writer)
                writer.add_done_callback(self._writers.discard)
                handed_over = True
        finally:
            self._dispatcher = None
            # Cancelled mid-way: no request may hang on its future.
            _fail(self._queue, RuntimeError("ingest batcher stopped"))
            self._queue.clear()

    def _take(self) -> list[Pending]:
        """The next batch, in submission order, of requests whose user has none in flight."""
        held = set(self._busy_users)
        batch: list[Pending] = []
        rest: list[Pending] = []
        for item in self._queue:
            if item.user_id in held or len(batch) == self._max_batch:
                held.add(item.user_id)
                rest.append(item)
            else:
                batch.append(item)
        self._queue[:] = rest
        return batch

    async def _write_batch(self, batch: list[Pending], users: set[int]) -> None:
        try:
            await self._write_isolating(batch)
        finally:
            self._busy_users -= users
            _fail(batch, RuntimeError("ingest batcher stopped"))  # cancelled mid-way

    async def _write_isolating(self, batch: list[Pending]) -> None:
        """Writes `batch`; halves it while the database refuses one request's data."""
        try:
            await self._write_retrying(batch)
        except Exception as exc:
            sqlstate = _request_fault(exc)
            if sqlstate is None:  # not a request's data: every request fails alike
                _fail(batch, exc)
            elif len(batch) == 1:
                _fail(
                    batch,
                    Invalid(
                        "The database refused this interaction's data",
                        code="invalid_interaction",
                        details={"sqlstate": sqlstate},
                    ),
                )
            else:  # left half first: each user's requests stay in submission order
                half = len(batch) // 2
                await self._write_isolating(batch[:half])
                await self._write_isolating(batch[half:])

    async def _write_retrying(self, batch: list[Pending]) -> None:
        for attempt in range(_ATTEMPTS):
            try:
                return await self._write(batch)
            except asyncpg.PostgresError as exc:
                # All locks are taken in one global order; a deadlock can still come from a
                # transaction elsewhere that takes them in another (a user's order lock, then
                # an épreuve row).
                if _sqlstate(exc) != _DEADLOCK or attempt + 1 == _ATTEMPTS:
                    raise
                self.retries += 1

    async def _write(self, batch: list[Pending]) -> None:
        occurred_at = datetime.now(UTC)
        event_ids = [uuid.uuid4() for _ in batch]
        args = (
            [p.user_id for p in batch],
            [p.epreuve_id for p in batch],
            [p.kind.value for p in batch],
            [p.metadata_json for p in batch],
            [p.relevance for p in batch],
            [p.token_version for p in batch],
            [p.recommendation_id for p in batch],
            event_ids,
            [_payload_template(p, occurred_at) for p in batch],
            sorted({p.epreuve_id for p in batch if p.kind in _COUNTED}),
            lock_keys(p.user_id for p in batch),
            occurred_at,
        )
        # On the driver connection: through SQLAlchemy, the session and each statement's
        # execution context were ~150 µs of CPU apiece, for statements that need none of it;
        # `driver_connection` keeps its invalidation of lost connections (a 503 as elsewhere).
        backend: int | None = None  # the pid of the backend that runs the statement
        try:
            async with driver_connection(self.engine) as driver:
                backend = driver.get_server_pid()
                rows = await driver.fetch(_WRITE, *args)
                results: list[RecordedInteraction | Exception] = [
                    _result(item, row, occurred_at) for item, row in zip(batch, rows, strict=True)
                ]
                written = [r for r in results if isinstance(r, RecordedInteraction)]
                if written:
                    await wakeup.committed_on(driver, self.engine)
        except Exception as exc:
            # The connection was lost with the statement sent: it may have committed (a
            # restart right after its WAL flush). Its writers must then get their 201s, not
            # 503s that a retry would turn into duplicates.
            stored = {}
            if backend is not None and is_unavailable(exc):
                stored = await self._stored(backend, event_ids)
            if not stored:
                raise
            self.lost_commits_resolved += 1
            logger.warning("ingest batcher: a batch whose answer was lost had committed")
            # A request with nothing stored (refused, for a reason the lost answer held) gets
            # the 503: its retry stores nothing twice.
            results = [
                _recorded(item, stored[e], occurred_at) if e in stored else exc
                for item, e in zip(batch, event_ids, strict=True)
            ]
            written = [r for r in results if isinstance(r, RecordedInteraction)]
        self.transactions += 1
        self.items += len(batch)
        if self._on_committed is not None and written:
            try:
                await self._on_committed({r.user_id for r in written})
            except Exception as exc:  # committed already: the writes are answered anyway
                logger.warning("ingest batcher: on_committed failed (%r)", exc)
        for item, result in zip(batch, results, strict=True):
            if item.future.done():
                continue
            if isinstance(result, Exception):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    async def _stored(self, backend: int, event_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """The ids of the interactions that the batch sent to `backend` (a pid) stored, by event
        id, asked on a new connection once the database answers again and that backend has
        ended; none when that is still unknown after `outcome_seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._outcome_seconds
        while True:
            try:
                async with driver_connection(self.engine) as driver:
                    if not await driver.fetchval(_BACKEND_RUNS, backend):
                        rows = await driver.fetch(_STORED, event_ids)
                        return {row["event_id"]: row["id"] for row in rows}
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
            if loop.time() >= deadline:
                return {}
            await asyncio.sleep(0.1)


def _result(item: Pending, row: Any, created_at: datetime) -> RecordedInteraction | Exception:
    if not row["active"]:
        return Unauthorized("User is unknown or deactivated", code="inactive_user")
    if not row["current"]:
        return Unauthorized("Token revoked, sign in again", code="token_revoked")
    if row["id"] is None:
        return NotFound(f"Épreuve {item.epreuve_id} not found", code="epreuve_not_found")
    return _recorded(item, row["id"], created_at)


def _recorded(item: Pending, id_: int, created_at: datetime) -> RecordedInteraction:
    """The interaction of `item` as stored, with its id and created_at."""
    return RecordedInteraction(
        id=id_,
        user_id=item.user_id,
        epreuve_id=item.epreuve_id,
        kind=item.kind,
        meta=item.metadata,
        relevance=item.relevance,
        created_at=created_at,
        recommendation_id=item.recommendation_id,
    )


def _payload_template(item: Pending, occurred_at: datetime) -> str:
    """`created_event`'s JSON of the interaction, but for its id (the statement draws it)."""
    return created_event(_recorded(item, 0, occurred_at)).model_dump_json()


def _metadata_json(metadata: dict[str, Any] | None) -> str | None:
    """The JSON text PostgreSQL will parse; NaN and Infinity (accepted by Python's JSON
    parser, refused by jsonb) are refused here, before the request joins a batch."""
    if metadata is None:
        return None
    try:
        return json.dumps(metadata, allow_nan=False)
    except ValueError as exc:
        message = "metadata must be plain JSON: NaN and Infinity are not allowed"
        raise Invalid(
            f"metadata: {message}",
            details=[{"field": "metadata", "message": message, "type": "value_error"}],
        ) from exc


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def _request_fault(exc: BaseException) -> str | None:
    """The SQLSTATE when the database refused a statement for the values it carried (a lost
    connection is class 08: nobody's data)."""
    if not isinstance(exc, asyncpg.PostgresError):
        return None
    sqlstate = _sqlstate(exc)
    return sqlstate if sqlstate and sqlstate[:2] in _REQUEST_FAULTS else None


def _fail(batch: list[Pending], exc: BaseException) -> None:
    for item in batch:
        if not item.future.done():
            item.future.set_exception(exc)
