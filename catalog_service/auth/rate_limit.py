"""Fixed-window attempt counters in Redis, shared by every replica."""

import hashlib
import logging

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from catalog_service.errors import RateLimited

logger = logging.getLogger(__name__)

# INCR, and start the window on the first hit; atomic, and works on Redis < 7 (no EXPIRE NX).
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('TTL', KEYS[1])}
"""


def login_client(host: str | None, name: str) -> str:
    """Who an attempt counts against: the client's address and the name tried, case-folded
    (the API's token endpoint and the console's login share the count)."""
    return f"{host or '-'}|{name.strip().lower()}"


async def hit(*, redis: Redis, scope: str, client: str, limit: int, window_s: int) -> None:
    """Counts one attempt for `client` in `scope`; RateLimited past `limit` in the window.

    Redis unreachable: the attempt is let through (logins keep working; argon2 still slows
    guessing down) rather than locking every user out.
    """
    digest = hashlib.sha256(client.encode()).hexdigest()[:32]
    key = f"ratelimit:{scope}:{digest}"
    try:
        count, ttl = await redis.eval(_HIT, 1, key, window_s)  # type: ignore[misc]
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        logger.warning("rate limit skipped, Redis unavailable: %s", exc)
        return
    if int(count) > limit:
        raise RateLimited(retry_after=max(int(ttl), 1))
