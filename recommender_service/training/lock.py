"""A Redis lock so that one replica trains at a time.

SET NX PX with a random token; renewed while the run lasts (a crashed trainer's lock expires by
itself); released only by its owner, with a compare-and-delete script.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

LOCK_KEY = "recommender:training:lock"

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class TrainingLock:
    def __init__(self, redis: aioredis.Redis, *, ttl_ms: int, key: str = LOCK_KEY) -> None:
        self.redis = redis
        self.ttl_ms = ttl_ms
        self.key = key
        self.token = secrets.token_hex(16)
        self._renewer: asyncio.Task[None] | None = None

    async def acquire(self) -> bool:
        """Takes the lock if free and keeps it alive until `release`; False if someone holds it."""
        if not await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return False
        self._renewer = asyncio.create_task(self._keep_alive())
        return True

    async def renew(self) -> bool:
        return bool(await self.redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    async def release(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        with contextlib.suppress(RedisError, OSError):
            await self.redis.eval(_RELEASE, 1, self.key, self.token)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                if not await self.renew():
                    log.error("training lock lost (expired or taken over)")
                    return
            except (RedisError, OSError) as exc:
                log.warning("training lock: renew failed (%s)", exc)


async def training_in_progress(redis: aioredis.Redis, key: str = LOCK_KEY) -> bool:
    return bool(await redis.exists(key))


async def release_token(redis: aioredis.Redis, token: str, key: str = LOCK_KEY) -> bool:
    """Frees the lock if `token` still holds it (a dead owner's); True if it was freed."""
    return bool(await redis.eval(_RELEASE, 1, key, token))
