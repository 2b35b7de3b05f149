"""Fixed-window attempt counters in Redis, shared by every replica."""

import hashlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from catalog_service.errors import RateLimited

logger = logging.getLogger(__name__)


async def hit(*, redis: Redis, scope: str, client: str, limit: int, window_s: int) -> None:
    """Counts one attempt for `client` in `scope`; RateLimited past `limit` in the window.

    Redis unreachable: the attempt is let through (logins keep working; argon2 still slows
    guessing down) rather than locking every user out.
    """
    digest = hashlib.sha256(client.encode()).hexdigest()[:32]
    key = f"ratelimit:{scope}:{digest}"
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_s, nx=True)
            pipe.ttl(key)
            count, _, ttl = await pipe.execute()
    except (RedisError, OSError) as exc:
        logger.warning("rate limit skipped, Redis unavailable: %s", exc)
        return
    if int(count) > limit:
        raise RateLimited(retry_after=max(int(ttl), 1))
