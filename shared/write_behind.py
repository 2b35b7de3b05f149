"""Writes that no answer waits for: a cache entry stored in Redis after a miss.

The answer is already kept in the process's memory when its Redis copy is written, and a
missing copy costs another replica one computation, never a wrong answer (the entry is keyed by
the stamp it was computed under). So the answer leaves without waiting for that round trip: on
a loaded host, each wait is a turn in the event loop's queue behind every other request. Both
services' answer caches write this way (`catalog_service.recommendations.cache`,
`recommender_service.serving.cache`).

Bounded: with `limit` writes pending (Redis slower than the answers), the next one is awaited
by its caller, as if written inline. `drain` waits for the pending ones (at shutdown, before the
client closes; in tests, before reading Redis).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class WriteBehind:
    def __init__(self, *, limit: int = 256) -> None:
        self.limit = limit
        self._pending: set[asyncio.Task[object]] = set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def write(self, write: Coroutine[Any, Any, object]) -> None:
        """Runs `write` after the caller's answer has left, or now when too many are pending.
        `write` handles its own expected failures (Redis down): anything else is logged."""
        if len(self._pending) >= self.limit:
            await write
            return
        task = asyncio.get_running_loop().create_task(write)
        self._pending.add(task)  # a task only weakly referenced by the loop may vanish
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a write behind failed", exc_info=task.exception())

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
