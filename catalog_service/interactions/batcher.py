"""Group commit for POST /v1/interactions: concurrent requests share one transaction.

Each request queues its validated interaction and waits. A flusher task, started when the first
item arrives and ending when the queue is empty, writes everything pending (up to `max_batch`)
in one transaction, then resolves each request with its row: a 201 is only sent after COMMIT.
Idle, a request is written at once (the flusher runs at the next loop turn); under load the
items that arrive while a batch is being written form the next batch, so the per-transaction
cost (round trips, COMMIT's WAL flush, the relay wake-up) is shared.

The transaction: (1) the per-user outbox order locks, in ascending key order (two workers'
batches never deadlock on them), taken before any outbox id is drawn, so one user's events
reach the stream in commit order across workers; (2) the épreuve rows whose counters move,
locked in id order for the same reason (NO KEY UPDATE: the interactions' foreign-key checks
take KEY SHARE locks, which a FOR UPDATE would conflict with, in no set order); (3) one
statement that keeps the inputs whose user and
épreuve are active, inserts their interactions and outbox rows (ids drawn in input order) and
bumps the counters, and returns per input whether it was accepted. A rejected input gets its
own 401 / 404; a failed transaction fails every request of the batch with the same error.
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

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_service.errors import NotFound, Unauthorized
from catalog_service.interactions.models import Interaction
from catalog_service.outbox.service import (
    NOTIFY_CHANNEL,
    has_local_relays,
    order_lock_keys,
    wake_local_relays,
)
from shared.enums import InteractionKind
from shared.events import SCHEMA_VERSION, EventType

logger = logging.getLogger(__name__)

_LOCK_USERS = "SELECT count(pg_advisory_xact_lock($1::int, k)) FROM unnest($2::int[]) AS k"
_LOCK_EPREUVES = (
    "SELECT count(*) FROM (SELECT id FROM catalog.epreuve WHERE id = ANY($1::bigint[])"
    " ORDER BY id FOR NO KEY UPDATE) AS locked"
)
_ISO_UTC = """to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
    || CASE WHEN date_part('microseconds', now())::bigint % 1000000 = 0 THEN ''
            ELSE to_char(now() AT TIME ZONE 'UTC', '.US') END || 'Z'"""
# created_at is now(): the transaction's timestamp, as the column's default would give.
_WRITE = """
WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::smallint[],
                         $6::uuid[], $7::text[])
        WITH ORDINALITY AS t (user_id, epreuve_id, kind, metadata, relevance, event_id, payload,
                              ord)
),
ok_user AS (SELECT id FROM catalog."user" WHERE id = ANY($1::bigint[]) AND is_active),
ok_epreuve AS (SELECT id FROM catalog.epreuve WHERE id = ANY($2::bigint[]) AND is_active),
accepted AS MATERIALIZED (
    SELECT s.*, nextval(pg_get_serial_sequence('catalog.interaction', 'id')) AS id
    FROM (SELECT input.* FROM input
          JOIN ok_user ON ok_user.id = input.user_id
          JOIN ok_epreuve ON ok_epreuve.id = input.epreuve_id
          ORDER BY input.ord) AS s
),
i AS (
    INSERT INTO catalog.interaction (id, user_id, epreuve_id, kind, metadata, relevance,
                                     created_at)
    SELECT id, user_id, epreuve_id, kind, CAST(metadata AS jsonb), relevance, now()
    FROM accepted
),
o AS (
    INSERT INTO catalog.outbox_event (event_id, type, occurred_at, schema_version, payload)
    SELECT event_id, $8, $9, $10,
           CAST(payload AS jsonb) || jsonb_build_object('id', id, 'created_at', <ISO>)
    FROM accepted ORDER BY ord
),
c AS (
    UPDATE catalog.epreuve AS e
    SET views = e.views + b.views, downloads = e.downloads + b.downloads
    FROM (SELECT epreuve_id, count(*) FILTER (WHERE kind = 'VIEW') AS views,
                 count(*) FILTER (WHERE kind = 'DOWNLOAD') AS downloads
          FROM accepted WHERE kind IN ('VIEW', 'DOWNLOAD') GROUP BY epreuve_id) AS b
    WHERE e.id = b.epreuve_id
)
SELECT input.ord, ok_user.id IS NOT NULL AS user_ok, accepted.id, now() AS created_at
FROM input
LEFT JOIN ok_user ON ok_user.id = input.user_id
LEFT JOIN accepted ON accepted.ord = input.ord
ORDER BY input.ord""".replace("<ISO>", _ISO_UTC)
_NOTIFY = f"NOTIFY {NOTIFY_CHANNEL}"
_DEADLOCK = "40P01"
_ATTEMPTS = 3
_COUNTED = (InteractionKind.VIEW, InteractionKind.DOWNLOAD)


@dataclass(slots=True)
class Pending:
    user_id: int
    epreuve_id: int
    kind: InteractionKind
    metadata: dict[str, Any] | None
    relevance: int | None
    future: asyncio.Future[Interaction]


class IngestBatcher:
    """One per process and engine (see interactions.dependencies)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 256,
        on_committed: Callable[[set[int]], Awaitable[None]] | None = None,
    ) -> None:
        """`on_committed` hears the users of each committed batch before any of them is
        answered, so that what their writes make stale is gone when they ask again."""
        self.engine = engine
        self._on_committed = on_committed
        self._max_batch = max_batch
        self._queue: list[Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        # Observability (and tests): transactions written and interactions they carried.
        self.transactions = 0
        self.items = 0

    async def submit(
        self,
        *,
        user_id: int,
        epreuve_id: int,
        kind: InteractionKind,
        metadata: dict[str, Any] | None,
        relevance: int | None,
    ) -> Interaction:
        future: asyncio.Future[Interaction] = asyncio.get_running_loop().create_future()
        self._queue.append(Pending(user_id, epreuve_id, kind, metadata, relevance, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="interactions-group-commit")
        # A cancelled request (client gone) does not cancel the write of the others.
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        batch: list[Pending] = []
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                try:
                    await self._write_retrying(batch)
                except Exception as exc:  # the transaction failed: every request fails alike
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(exc)
        finally:
            self._flusher = None
            # Cancelled mid-way: no request may hang on its future.
            for item in [*batch, *self._queue]:
                if not item.future.done():
                    item.future.set_exception(RuntimeError("ingest batcher stopped"))
            self._queue.clear()

    async def _write_retrying(self, batch: list[Pending]) -> None:
        for attempt in range(_ATTEMPTS):
            try:
                return await self._write(batch)
            except DBAPIError as exc:
                # All locks are taken in one global order; a deadlock can still come from a
                # transaction elsewhere (record_interaction inside another endpoint's work).
                if getattr(exc.orig, "sqlstate", None) != _DEADLOCK or attempt + 1 == _ATTEMPTS:
                    raise

    async def _write(self, batch: list[Pending]) -> None:
        occurred_at = datetime.now(UTC)
        payloads = [
            json.dumps(
                {
                    "user_id": p.user_id,
                    "epreuve_id": p.epreuve_id,
                    "kind": p.kind.value,
                    "relevance": p.relevance,
                }
            )
            for p in batch
        ]
        lock_space = order_lock_keys(0)[0]
        lock_keys = sorted({order_lock_keys(p.user_id)[1] for p in batch})
        counted = sorted({p.epreuve_id for p in batch if p.kind in _COUNTED})
        args = (
            [p.user_id for p in batch],
            [p.epreuve_id for p in batch],
            [p.kind.value for p in batch],
            [None if p.metadata is None else json.dumps(p.metadata) for p in batch],
            [p.relevance for p in batch],
            [uuid.uuid4() for _ in batch],
            payloads,
            EventType.INTERACTION_CREATED.value,
            occurred_at,
            SCHEMA_VERSION,
        )
        # Driver SQL through SQLAlchemy: its error wrapping and invalidation of lost
        # connections give the same 503 as the other endpoints when the database is down.
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql(_LOCK_USERS, (lock_space, lock_keys))
            if counted:
                await conn.exec_driver_sql(_LOCK_EPREUVES, (counted,))
            rows = (await conn.exec_driver_sql(_WRITE, args)).mappings().all()
            if not has_local_relays():  # relays elsewhere: delivered at COMMIT
                await conn.exec_driver_sql(_NOTIFY)
        self.transactions += 1
        self.items += len(batch)
        wake_local_relays()
        if self._on_committed is not None:
            try:
                await self._on_committed({p.user_id for p in batch})
            except Exception as exc:  # committed already: the writes are answered anyway
                logger.warning("ingest batcher: on_committed failed (%r)", exc)
        for item, row in zip(batch, rows, strict=True):
            if item.future.done():
                continue
            if not row["user_ok"]:
                item.future.set_exception(
                    Unauthorized("User is unknown or deactivated", code="inactive_user")
                )
            elif row["id"] is None:
                item.future.set_exception(
                    NotFound(f"Épreuve {item.epreuve_id} not found", code="epreuve_not_found")
                )
            else:
                item.future.set_result(
                    Interaction(
                        id=row["id"],
                        user_id=item.user_id,
                        epreuve_id=item.epreuve_id,
                        kind=item.kind,
                        meta=item.metadata,
                        relevance=item.relevance,
                        created_at=row["created_at"],
                    )
                )
