"""The consumer group reader (DESIGN §3).

A read batch is applied in one transaction (bulk statements, see `readmodel.bulk`) and
acknowledged with one XACK only after the commit, so a crash between the two redelivers it (and
idempotency makes the replay harmless). If the batch fails, its entries are retried one by one,
each in its own transaction, so that one bad entry fails alone and the others go through.
A consumer first re-reads its own pending entries (XREADGROUP from id 0: what this replica read
before a crash or a kill and never acknowledged) at once, then reads new ones (`>`). Entries left
pending longer than `claim_idle_ms` (a replica that is gone, or one that failed here) are taken
over with XAUTOCLAIM, looked for at most every `RECLAIM_EVERY_SECONDS` while the consumer
runs (each pass of a busy stream would otherwise pay a round trip to find, nearly always,
nothing idle that long), and at every pass of a `drain`. Both count deliveries; after
`max_deliveries` failed attempts an entry moves to the dead-letter stream `<stream>.dead`.
Malformed entries go there at once: retrying cannot fix them. Now and then the group's
long-idle consumers are removed (`members`).

PostgreSQL or Redis unreachable is not the entry's fault: it does not count towards the
dead-letter limit. The consumer stops reading, waits until PostgreSQL answers again (backing
off), then re-reads its own pending entries at once, so what it read during the outage is
applied seconds after the recovery, not `claim_idle_ms` later, and each outage costs an entry
one delivery, not one per retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.consumer.members import forget_idle_consumers
from recommender_service.readmodel.bulk import Applied, apply_batch
from recommender_service.readmodel.service import Change, apply_event
from shared.events import Event, InvalidEvent
from shared.http_errors import is_unavailable

log = logging.getLogger(__name__)

EVENTS = Counter("recommender_events_total", "Stream entries handled", ["outcome"])

OnChange = Callable[[Collection[Change]], Awaitable[None]]
MEMBERS_CHECK_SECONDS = 60.0
RECLAIM_EVERY_SECONDS = 1.0  # longest pause between XAUTOCLAIM scans of a running consumer
OUTAGE_BACKOFF = (0.5, 5.0)  # first and longest wait between database probes


class DependencyDown(Exception):
    """PostgreSQL (or Redis) could not be reached while applying entries: retry them all later."""


@dataclass
class ConsumerStats:
    applied: int = 0
    failed: int = 0
    dead_lettered: int = 0
    claimed: int = 0
    last_entry_id: str | None = None


class StreamConsumer:
    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        stream: str,
        group: str,
        name: str,
        max_deliveries: int = 5,
        claim_idle_ms: int = 60_000,
        block_ms: int = 2000,
        batch: int = 100,
        on_change: OnChange | None = None,
        idle_delete_ms: int = 3_600_000,
    ) -> None:
        self.redis = redis
        self.sessionmaker = sessionmaker
        self.stream = stream
        self.dead_stream = f"{stream}.dead"
        self.group = group
        self.name = name
        self.max_deliveries = max_deliveries
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.batch = batch
        self.on_change = on_change
        self._unannounced: set[int] = set()
        self.idle_delete_ms = idle_delete_ms
        self.stats = ConsumerStats()
        self._claim_cursor = "0-0"
        self._own_pending_read = False
        self._next_members_check = 0.0
        self._next_reclaim = 0.0

    async def ensure_group(self, start_id: str = "0") -> bool:
        """Creates the group (and the stream) if missing; True when it was created here."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id=start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False
        return True

    async def run_once(self, *, block: bool = True) -> int:
        """Its own pending entries (first call), stale entries of others, then new ones; returns
        how many entries were handled."""
        handled = 0
        if not self._own_pending_read:
            handled += await self._read_own_pending()
            self._own_pending_read = True
        if not block or self._reclaim_due():
            handled += await self._reclaim()
        response: Any = await self.redis.xreadgroup(
            self.group,
            self.name,
            {self.stream: ">"},
            count=self.batch,
            block=self.block_ms if block else None,
        )
        for _stream, entries in response or []:
            await self._handle_batch(entries)
            handled += len(entries)
        return handled

    async def drain(self) -> int:
        """Handles everything available now without waiting for more (CLI, tests)."""
        total = 0
        while handled := await self.run_once(block=False):
            total += handled
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """The background loop: survives Redis or database outages by retrying.

        The group must exist (positioned by `runner.position_group`); if Redis lost it (a
        restart without persistence), it is recreated at the start of what the stream holds.
        """
        while not stop.is_set():
            try:
                await self.run_once()
                if time.monotonic() >= self._next_members_check:
                    self._next_members_check = time.monotonic() + MEMBERS_CHECK_SECONDS
                    await forget_idle_consumers(
                        self.redis, stream=self.stream, group=self.group, keep=self.name,
                        idle_ms=self.idle_delete_ms,
                    )  # fmt: skip
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    log.warning("consumer: redis error (%s); retrying", exc)
                    await _sleep_or_stop(stop, 1.0)
                    continue
                log.warning("consumer: group %s is gone; recreating it", self.group)
                with contextlib.suppress(RedisError, OSError):
                    await self.ensure_group()
            except DependencyDown as exc:
                log.warning("consumer: %s; waiting for the database", exc.__cause__ or exc)
                await self._wait_for_database(stop)
                self._own_pending_read = False
            except (RedisError, OSError) as exc:
                log.warning("consumer: redis unavailable (%s); retrying", exc)
                await _sleep_or_stop(stop, 1.0)
                self._own_pending_read = False  # entries read but not acknowledged
            except Exception:
                log.exception("consumer: unexpected error; retrying")
                await _sleep_or_stop(stop, 1.0)

    async def _read_own_pending(self) -> int:
        """Entries this consumer name read and never acknowledged (before a restart): XREADGROUP
        from id 0 walks its own pending list, page by page."""
        handled, cursor = 0, "0"
        while True:
            response: Any = await self.redis.xreadgroup(
                self.group, self.name, {self.stream: cursor}, count=self.batch
            )
            entries = response[0][1] if response else []
            if not entries:
                if handled:
                    log.info(
                        "consumer %s: re-read %d pending entries of its own", self.name, handled
                    )
                return handled
            cursor = entries[-1][0]
            handled += await self._handle_live(entries)

    def _reclaim_due(self) -> bool:
        """Mid-scan (the cursor is not back at the start), or the pause since the last scan is
        over: an entry becomes claimable `claim_idle_ms` after its delivery, so a scan every
        half of that (at most a second) adds at most that much to its takeover."""
        now = time.monotonic()
        if self._claim_cursor == "0-0" and now < self._next_reclaim:
            return False
        self._next_reclaim = now + min(RECLAIM_EVERY_SECONDS, self.claim_idle_ms / 2000)
        return True

    async def _reclaim(self) -> int:
        result: Any = await self.redis.xautoclaim(
            self.stream,
            self.group,
            self.name,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self.batch,
        )
        self._claim_cursor, entries = result[0], result[1]
        claimed = await self._handle_live(entries)
        self.stats.claimed += claimed
        return claimed

    async def _handle_live(self, entries: list[tuple[str, dict[str, str] | None]]) -> int:
        """Handles pending entries read again; those trimmed away meanwhile (no fields left)
        are acknowledged, as there is nothing left to apply."""
        live = []
        for entry_id, fields in entries:
            if not fields:
                await self.redis.xack(self.stream, self.group, entry_id)
                continue
            live.append((entry_id, fields))
        await self._handle_batch(live)
        return len(live)

    async def _handle_batch(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        """One transaction and one XACK for the batch; one by one if the batch fails."""
        valid: list[tuple[str, dict[str, str], Applied]] = []
        for entry_id, fields in entries:
            try:
                event = Event.from_fields(fields)
                payload = event.parsed()
            except InvalidEvent as exc:
                await self._dead_letter(entry_id, fields, f"invalid: {exc}")
                continue
            valid.append((entry_id, fields, Applied(payload, event.occurred_at, event.event_id)))
        if len(valid) == 1:
            await self._handle(valid[0][0], valid[0][1])
            return
        if not valid:
            return
        try:
            async with self.sessionmaker() as session, session.begin():
                changes = await apply_batch(session, [applied for _, _, applied in valid])
        except Exception as exc:
            if is_unavailable(exc):
                raise DependencyDown("read model unreachable") from exc
            log.warning("consumer: batch of %d failed (%s); one by one", len(valid), exc)
            for entry_id, fields, _ in valid:
                await self._handle(entry_id, fields)
            return
        await self.redis.xack(self.stream, self.group, *(entry_id for entry_id, _, _ in valid))
        self.stats.applied += len(valid)
        self.stats.last_entry_id = valid[-1][0]
        EVENTS.labels("applied").inc(len(valid))
        await self._notify(changes)

    async def _notify(self, changes: Collection[Change]) -> None:
        if self.on_change is None or not changes:
            return
        # Users whose last announcement failed: their in-memory histories, on every replica,
        # may lack what it carried, and a later swap would move them on without it. Dropped.
        unannounced = {Change(user_id=u, profile_changed=True) for u in self._unannounced}
        # A cache miss costs less than a lost event: errors are ignored (and remembered).
        try:
            await self.on_change([*changes, *unannounced])
        except (RedisError, OSError):
            self._unannounced |= {c.user_id for c in changes if c.user_id is not None}
        else:
            self._unannounced -= {c.user_id for c in unannounced}

    async def _handle(self, entry_id: str, fields: dict[str, str]) -> None:
        try:
            event = Event.from_fields(fields)
            async with self.sessionmaker() as session, session.begin():
                change = await apply_event(session, event)
        except InvalidEvent as exc:
            await self._dead_letter(entry_id, fields, f"invalid: {exc}")
            return
        except Exception as exc:
            if is_unavailable(exc):
                raise DependencyDown("read model unreachable") from exc
            self.stats.failed += 1
            EVENTS.labels("failed").inc()
            deliveries = await self._deliveries(entry_id)
            log.warning("consumer: entry %s failed (delivery %d): %s", entry_id, deliveries, exc)
            if deliveries >= self.max_deliveries:
                await self._dead_letter(entry_id, fields, f"failed {deliveries} times: {exc}")
            return
        await self.redis.xack(self.stream, self.group, entry_id)
        self.stats.applied += 1
        self.stats.last_entry_id = entry_id
        EVENTS.labels("applied").inc()
        await self._notify([change])

    async def _wait_for_database(self, stop: asyncio.Event) -> None:
        """Returns once PostgreSQL answers (or at `stop`), probing with a growing pause."""
        pause, longest = OUTAGE_BACKOFF
        while not stop.is_set():
            await _sleep_or_stop(stop, pause)
            try:
                async with self.sessionmaker() as session:
                    await session.execute(text("SELECT 1"))
                return
            except Exception as exc:
                if not is_unavailable(exc):
                    return  # reachable, failing otherwise: the entries' own handling decides
                pause = min(longest, pause * 2)

    async def _deliveries(self, entry_id: str) -> int:
        pending = await self.redis.xpending_range(
            self.stream, self.group, min=entry_id, max=entry_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 1

    async def _dead_letter(self, entry_id: str, fields: dict[str, str], error: str) -> None:
        dead: dict[Any, Any] = {**fields, "dead_entry_id": entry_id, "dead_error": error[:2000]}
        dead["dead_at"] = datetime.now(UTC).isoformat()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_stream, dead)
            pipe.xack(self.stream, self.group, entry_id)
            await pipe.execute()
        self.stats.dead_lettered += 1
        EVENTS.labels("dead_lettered").inc()
        log.error("consumer: entry %s dead-lettered: %s", entry_id, error)

    async def lag(self) -> dict[str, int | str | None]:
        """Pending entries of the group and how many entries it has not read yet."""
        groups = await self.redis.xinfo_groups(self.stream)
        info = next((g for g in groups if g["name"] == self.group), None)
        if info is None:
            return {"pending": 0, "lag": None, "last_delivered_id": None}
        last = info["last-delivered-id"]
        unread: Any = await self.redis.xrange(self.stream, min=f"({last}", max="+", count=10_000)
        return {"pending": int(info["pending"]), "lag": len(unread), "last_delivered_id": last}


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
