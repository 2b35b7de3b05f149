"""A Lua script that needs no Redis client to be made: for module-level functions that are
given a client per call, and for scripts that both services run (`HASH_PUT`, by way of
`cache_put`).

redis-py's `register_script` binds a script to one client and hashes it when made; a function
that registered its script on every call would hash it every time. A `LuaScript` is hashed once
at import and runs on whichever client it is given: by its SHA-1, and by its whole text only
when that Redis does not hold it yet (started, restarted or flushed since).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError
from redis.typing import EncodableT, KeyT


class LuaScript:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(
        self, redis: aioredis.Redis, keys: Sequence[KeyT], args: Sequence[EncodableT]
    ) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:  # EVAL stores it: the next call's EVALSHA finds it
            return await redis.eval(self.source, len(keys), *keys, *args)


# A hash field and the hash's lifetime in one command (a MULTI pipeline is four): the answer
# caches of both services store an entry this way.
# KEYS: the hash. ARGV: the field, its value, the hash's TTL in seconds.
HASH_PUT = LuaScript("""
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('EXPIRE', KEYS[1], ARGV[3])
""")


async def cache_put(redis: aioredis.Redis, key: str, field: str, entry: bytes, ttl: int) -> None:
    """`HASH_PUT` as both answer caches store an entry: Redis unreachable is no failure of the
    answer it copies (a missing entry is a miss, and each entry carries its own expiry)."""
    with contextlib.suppress(RedisError, OSError):
        await HASH_PUT(redis, [key], [field, entry, ttl])
