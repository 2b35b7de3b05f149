"""The invariant of every fault scenario: each acknowledged write is stored exactly once in the
catalog, appended exactly once to the stream and applied exactly once to the read model.

Checked over the scenario's own rows (interaction ids above the watermark taken before it):
- catalog: every acknowledged id is a row there, the row of that very request (the client's
  token, in the row's metadata), and no token is on two rows;
- stream: every stored row, acknowledged or not (a client killed mid-request may never see the
  201 of a committed write), is on the stream as exactly one `interaction.created` event;
- read model: every stored row is there, with the event id it has on the stream (or none, when
  the bootstrap's export brought it: the export and the event are then one row).
This reads the services' tables and the stream directly: it is the judge, not a client.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from shared.events import Event, EventType
from tests.conftest import _plain
from tests.faults.load import Ledger
from tests.faults.stack import FaultStack, eventually


@dataclass
class Invariant:
    acknowledged: int
    stored: int  # the scenario's catalog rows (acknowledged ones, plus unanswered commits)
    lost_in_catalog: int
    other_request_in_catalog: int  # the 201's id is a row of another request
    doubled_in_catalog: int
    missing_on_stream: int
    doubled_on_stream: int
    missing_in_read_model: int
    other_event_in_read_model: int  # applied from an event that is not its stream event
    applied_from_export: int  # no event id: the bootstrap's export brought it (then its event
    # was a duplicate); a recommender that starts under the load imports the newest rows so

    @property
    def lost(self) -> int:
        """Acknowledged writes not in the catalog, stored ones not on the stream or not in the
        read model."""
        return self.lost_in_catalog + self.missing_on_stream + self.missing_in_read_model

    @property
    def doubled(self) -> int:
        return self.doubled_in_catalog + self.doubled_on_stream

    @property
    def holds(self) -> bool:
        wrong = self.other_request_in_catalog + self.other_event_in_read_model
        return self.lost == 0 and self.doubled == 0 and wrong == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lost": self.lost, "doubled": self.doubled, "holds": self.holds}


@contextlib.asynccontextmanager
async def _connect(stack: FaultStack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(_plain(stack.database_url))
    try:
        yield conn
    finally:
        await conn.close()


async def watermark(stack: FaultStack) -> int:
    """The highest interaction id before a scenario: its rows are the ones above."""
    async with _connect(stack) as conn:
        return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM catalog.interaction"))


async def pending_outbox(stack: FaultStack) -> int:
    async with _connect(stack) as conn:
        query = "SELECT count(*) FROM catalog.outbox_event WHERE published_at IS NULL"
        return int(await conn.fetchval(query))


async def converge(stack: FaultStack, since: int, *, timeout_s: float) -> float | None:
    """Seconds until the outbox is empty and the read model holds every row above `since`
    (None when that takes longer than `timeout_s`: then the check reports what is missing)."""

    async def caught_up() -> bool:
        async with _connect(stack) as conn:
            missing = await conn.fetchval(
                "SELECT count(*) FROM catalog.interaction c WHERE c.id > $1 AND NOT EXISTS "
                "(SELECT 1 FROM recommender.interaction r WHERE r.id = c.id)",
                since,
            )
        return missing == 0 and await pending_outbox(stack) == 0

    try:
        return round(await eventually(caught_up, timeout_s=timeout_s, what="converged"), 2)
    except AssertionError:
        return None


async def check(stack: FaultStack, ledger: Ledger, since: int) -> Invariant:
    async with _connect(stack) as conn:
        rows = await conn.fetch(
            "SELECT id, metadata->>'request' AS token FROM catalog.interaction WHERE id > $1",
            since,
        )
        stored = {int(r["id"]) for r in rows}
        read_model = {
            r["id"]: r["event_id"]
            for r in await conn.fetch(
                "SELECT id, event_id FROM recommender.interaction WHERE id = ANY($1::bigint[])",
                list(stored),
            )
        }
    row_tokens = {r["id"]: r["token"] for r in rows}
    tokens = Counter(t for t in row_tokens.values() if t)
    on_stream = await _stream_events(stack, stored)
    acked = set(ledger.acked)
    return Invariant(
        acknowledged=len(acked),
        stored=len(stored),
        lost_in_catalog=len(acked - stored),
        other_request_in_catalog=sum(
            1 for i, token in ledger.acked.items() if i in row_tokens and row_tokens[i] != token
        ),
        doubled_in_catalog=sum(n - 1 for n in tokens.values() if n > 1),
        missing_on_stream=len(stored - on_stream.keys()),
        doubled_on_stream=sum(len(ids) - 1 for ids in on_stream.values() if len(ids) > 1),
        missing_in_read_model=len(stored - read_model.keys()),
        other_event_in_read_model=sum(
            1
            for i, event_id in read_model.items()
            if event_id is not None and on_stream.get(i, [event_id])[0] != event_id
        ),
        applied_from_export=sum(1 for event_id in read_model.values() if event_id is None),
    )


async def _stream_events(stack: FaultStack, ids: set[int]) -> dict[int, list[Any]]:
    """interaction id → the event ids of its `interaction.created` entries on the stream."""
    client: aioredis.Redis = await stack.redis_client()
    found: defaultdict[int, list[Any]] = defaultdict(list)
    try:
        start = "-"
        while True:
            page = await client.xrange(stack.stream, min=start, max="+", count=5000)
            for _entry_id, fields in page:
                event = Event.from_fields(fields)
                if event.type is EventType.INTERACTION_CREATED and event.payload["id"] in ids:
                    found[event.payload["id"]].append(event.event_id)
            if len(page) < 5000:
                return dict(found)
            start = "(" + page[-1][0].decode()
    finally:
        await client.aclose()
