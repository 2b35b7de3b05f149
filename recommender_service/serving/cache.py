"""Redis cache of serving results.

One hash per user (`…:u:<id>`) or item (`…:i:<id>`); the field names the model version, the
request parameters and a global generation. So (`forget` applies these rules to a read-model
change):
- a user's interaction deletes that user's hash (one DEL);
- a new active version changes the field name: old entries are never read again;
- a catalog change to items bumps the global generation, which retires every entry at once.
Reading is one round trip (a Lua script reads the generation and the field together). Each
entry carries its own expiry, so a hash kept alive by newer writes never serves a stale one.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import RedisError

from recommender_service.readmodel.service import Change

CACHE_LOOKUPS = Counter("recommender_cache_lookups_total", "Result cache lookups", ["result"])

PREFIX = "recommender:cache"
GENERATION_KEY = f"{PREFIX}:gen"
UNAVAILABLE = "unavailable"

_GET = """
local gen = redis.call('GET', KEYS[1]) or '0'
return {gen, redis.call('HGET', KEYS[2], ARGV[1] .. '|g' .. gen)}
"""


class ResultCache:
    def __init__(self, redis: aioredis.Redis, *, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self.hits = 0
        self.misses = 0
        self._get = redis.register_script(_GET)

    @staticmethod
    def user_scope(user_id: int) -> str:
        return f"{PREFIX}:u:{user_id}"

    @staticmethod
    def item_scope(item_id: int) -> str:
        return f"{PREFIX}:i:{item_id}"

    async def get(self, scope: str, field: str) -> tuple[dict[str, Any] | None, str]:
        """The cached value (or None) and the generation to store a fresh one under.

        Redis down is a miss, not an error: serving goes on, computing every answer."""
        try:
            generation, raw = await self._get(keys=[GENERATION_KEY, scope], args=[field])
        except (RedisError, OSError):
            generation, raw = UNAVAILABLE, None
        generation = generation.decode() if isinstance(generation, bytes) else str(generation)
        if raw is not None:
            entry = json.loads(raw)
            if entry["exp"] > time.time():
                self.hits += 1
                CACHE_LOOKUPS.labels("hit").inc()
                return entry["value"], generation
        self.misses += 1
        CACHE_LOOKUPS.labels("miss").inc()
        return None, generation

    async def put(
        self,
        scope: str,
        field: str,
        generation: str,
        value: dict[str, Any],
        *,
        ttl_seconds: int | None = None,
    ) -> None:
        if generation == UNAVAILABLE:
            return
        ttl = min(ttl_seconds or self.ttl_seconds, self.ttl_seconds)
        entry = json.dumps({"exp": time.time() + ttl, "value": value}, separators=(",", ":"))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(scope, f"{field}|g{generation}", entry)
            pipe.expire(scope, self.ttl_seconds)
            with contextlib.suppress(RedisError, OSError):
                await pipe.execute()

    async def invalidate_user(self, user_id: int) -> None:
        await self.redis.delete(self.user_scope(user_id))

    async def invalidate_all(self) -> None:
        await self.redis.incr(GENERATION_KEY)

    async def forget(self, change: Change) -> None:
        """Retires the answers a read-model change makes stale: the user's own on their
        interaction or profile change, every answer on a catalog item change."""
        if change.user_id is not None:
            await self.invalidate_user(change.user_id)
        if change.items_changed:
            await self.invalidate_all()
