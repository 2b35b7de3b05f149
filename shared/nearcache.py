"""An in-process cache in front of Redis, kept right across replicas by change notices on
Redis pub/sub (plumbing both services use the same way).

A hit costs no round trip at all. Whoever changes state publishes a notice once the change is
visible (in the database and in Redis); every process of every replica hears it and drops what
it names: scopes (`"u:42 u:43"`) or everything (`"*"`, or any message on a channel that clears
all).

Notices sent while a subscription is down are lost, so the cache is trusted only while it is
subscribed: nothing is served before the subscription is confirmed, nothing while it is down,
and everything stored before a reconnection is dropped. A value computed from state read before
a notice must not be stored after it: take `mark()` before reading, and `put(..., mark=)`
refuses the value if its scope (or everything) was dropped since.

`listeners`: other channels a service follows on the same subscription (its pings, its
reconnection), each message handed to its callback as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

EVERYTHING = "*"
RETRY_SECONDS = 1.0
# An idle subscription is pinged this often; silent for three times as long, it is rebuilt (a
# half-open connection would otherwise keep serving what nobody can invalidate any more).
PING_SECONDS = 5.0


class NearCache:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        scope_channels: Iterable[str],
        clear_channels: Iterable[str] = (),
        max_entries: int = 10_000,
        listeners: Mapping[str, Callable[[str], None]] | None = None,
    ) -> None:
        self.redis = redis
        self.scope_channels = frozenset(scope_channels)
        self.clear_channels = frozenset(clear_channels)
        self.listeners = dict(listeners or {})
        self.max_entries = max_entries
        self.live = False
        self._live = asyncio.Event()
        self.subscriptions = 0  # how many times it came (back) up
        self.notices = 0  # how many it applied (observability; a test's barrier)
        self.hits = 0
        self._entries: OrderedDict[tuple[str, str], tuple[float, Any]] = OrderedDict()
        self._keys: dict[str, set[str]] = {}
        # Every drop gets the next sequence number; `put` compares its mark with them.
        self._seq = 0
        self._dropped: OrderedDict[str, int] = OrderedDict()
        self._floor = 0  # refuse marks below this: a clear, or a drop record since forgotten

    def __len__(self) -> int:
        return len(self._entries)

    async def wait_live(self, seconds: float) -> bool:
        """Whether the subscription is up within `seconds` (at start, say)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._live.wait(), seconds)
        return self.live

    def get(self, scope: str, key: str) -> Any | None:
        if not self.live:
            return None
        entry = self._entries.get((scope, key))
        if entry is None:
            return None
        if entry[0] <= time.time():
            self._remove((scope, key))
            return None
        self._entries.move_to_end((scope, key))
        self.hits += 1
        return entry[1]

    def mark(self) -> int:
        """Where notices stand now; -1 when unsubscribed (a value read now is never stored)."""
        return self._seq if self.live else -1

    def put(self, scope: str, key: str, value: Any, *, mark: int, expires_at: float) -> None:
        if mark < 0 or not self.live or self.max_entries <= 0 or mark < self._floor:
            return
        if self._dropped.get(scope, -1) > mark:
            return
        self._entries[(scope, key)] = (expires_at, value)
        self._entries.move_to_end((scope, key))
        self._keys.setdefault(scope, set()).add(key)
        while len(self._entries) > self.max_entries:
            self._remove(next(iter(self._entries)))

    def drop(self, scope: str) -> None:
        self._seq += 1
        self._dropped[scope] = self._seq
        self._dropped.move_to_end(scope)
        if len(self._dropped) > 4 * max(self.max_entries, 1):
            _, forgotten = self._dropped.popitem(last=False)
            self._floor = max(self._floor, forgotten)
        for key in self._keys.pop(scope, ()):
            self._entries.pop((scope, key), None)

    def clear(self) -> None:
        self._seq += 1
        self._floor = self._seq
        self._entries.clear()
        self._keys.clear()
        self._dropped.clear()

    def _remove(self, entry_key: tuple[str, str]) -> None:
        self._entries.pop(entry_key, None)
        keys = self._keys.get(entry_key[0])
        if keys is not None:
            keys.discard(entry_key[1])
            if not keys:
                del self._keys[entry_key[0]]

    def notice(self, channel: str, data: str) -> None:
        """A notice names scopes, space-separated, or everything (`*`, or any message on a
        clearing channel)."""
        self.notices += 1
        if channel in self.clear_channels:
            self.clear()
        else:
            self.retire(data)

    def retire(self, scopes: str) -> None:
        """What a notice naming `scopes` does, done at once by the process that publishes it
        (its own next read must not wait for the notice to come back)."""
        names = scopes.split()
        if EVERYTHING in names:
            self.clear()
        else:
            for scope in names:
                self.drop(scope)

    async def run(self, stop: asyncio.Event) -> None:
        """Follows the channels until `stop`; reconnects (emptying the cache) after any error."""
        channels = sorted(self.scope_channels | self.clear_channels | self.listeners.keys())
        while not stop.is_set():
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(*channels)
                await self._follow(pubsub, len(channels), stop)
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("near cache: subscription lost (%s); not trusted until back", exc)
            except Exception:
                log.exception("near cache: unexpected error; not trusted until resubscribed")
            finally:
                self.live = False
                self._live.clear()
                self.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_SECONDS)

    async def _follow(self, pubsub: Any, channels: int, stop: asyncio.Event) -> None:
        confirmed = 0
        last_heard = last_ping = time.monotonic()
        while not stop.is_set():
            message = await pubsub.get_message(timeout=min(1.0, PING_SECONDS))
            now = time.monotonic()
            if message is None:
                if now - last_heard > 3 * PING_SECONDS:
                    raise TimeoutError("no answer to pings")
                if now - last_ping >= PING_SECONDS:
                    await pubsub.ping()
                    last_ping = now
                continue
            last_heard = now
            kind = message["type"]
            if kind == "subscribe":
                confirmed += 1
                if confirmed == channels:  # from here on, no notice can be missed
                    self.clear()
                    self.live = True
                    self.subscriptions += 1
                    self._live.set()
            elif kind == "message":
                channel, data = _text(message["channel"]), _text(message["data"])
                listener = self.listeners.get(channel)
                if listener is not None:
                    listener(data)
                else:
                    self.notice(channel, data)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
