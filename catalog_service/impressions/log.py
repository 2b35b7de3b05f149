"""The process's impression log: a list shown is recorded in memory at once (no I/O on the
request path, so a cached answer stays a cached answer) and written in batches by a
background flusher through `impressions.service` and the outbox.

A flush runs every `flush_seconds`, or at once when `max_batch` lists are waiting. While the
database is unreachable the lists wait (up to `max_pending`, the oldest dropped beyond); a
batch the database refuses for its data is dropped and logged, so it cannot wedge the log.

What a `kill -9` loses: the lists of the last flush interval (0.5 s by default) and nothing
else. That is acceptable for impressions: they feed statistics and rotation, not anyone's
data. A lost list loses its interactions' attribution with it (they name an id that was never
written), so click-through and download rates keep an unbiased numerator and denominator, and
rotation undercounts one showing. A clean shutdown flushes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog_service.impressions import service
from catalog_service.impressions.shown import Showing
from shared.events import ImpressionRecorded
from shared.http_errors import is_unavailable

logger = logging.getLogger(__name__)

IMPRESSIONS = Counter(
    "catalog_impressions_total",
    "Recommendation lists shown, by fate (recorded, written, dropped)",
    ["fate"],
)
_RECORDED, _WRITTEN, _DROPPED = (IMPRESSIONS.labels(f) for f in ("recorded", "written", "dropped"))


class ImpressionLog:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        flush_seconds: float = 0.5,
        max_batch: int = 500,
        max_pending: int = 100_000,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.flush_seconds = flush_seconds
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._pending: deque[Showing | ImpressionRecorded] = deque()
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()
        self.written = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._pending)

    def record(self, impression: Showing | ImpressionRecorded) -> None:
        """Queues a list shown; never blocks, never fails (its payload is built at flush)."""
        if len(self._pending) >= self.max_pending:
            self._pending.popleft()
            self._drop(1)
        self._pending.append(impression)
        _RECORDED.inc()
        if len(self._pending) >= self.max_batch:
            self._full.set()

    async def flush(self) -> int:
        """Writes everything waiting now, batch by batch; how many lists were written.
        Raises when the database is unreachable (what is left waits for the next flush)."""
        written = 0
        async with self._lock:
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self)))]
                try:
                    payloads = [p.payload() if isinstance(p, Showing) else p for p in batch]
                    async with self.sessionmaker() as session, session.begin():
                        new = await service.write(session=session, impressions=payloads)
                except Exception as exc:
                    if is_unavailable(exc):
                        self._pending.extendleft(reversed(batch))
                        raise
                    logger.error("impressions: a batch of %d refused, dropped: %r", len(batch), exc)
                    self._drop(len(batch))
                else:
                    written += new
                    self.written += new
                    _WRITTEN.inc(new)
        return written

    async def run(self, stop: asyncio.Event) -> None:
        """Flushes until `stop`, then once more."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait(stop), self.flush_seconds)
            self._full.clear()
            await self._flush_logged()
        await self._flush_logged()

    async def _wait(self, stop: asyncio.Event) -> None:
        full = asyncio.ensure_future(self._full.wait())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({full, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            full.cancel()
            stopped.cancel()

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception as exc:
            logger.warning("impressions: %d waiting, database unavailable (%s)", len(self), exc)

    def _drop(self, n: int) -> None:
        self.dropped += n
        _DROPPED.inc(n)
