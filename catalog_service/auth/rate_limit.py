"""Fixed-window attempt counters in Redis, shared by every replica.

An authentication attempt counts against several budgets at once (an account across all IPs,
an IP across all accounts): one script call counts them all, and the attempt is refused when
any is spent, with the time until that one resets as Retry-After.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from catalog_service.errors import RateLimited
from shared.text import fold_email

if TYPE_CHECKING:
    from catalog_service.config import Settings

logger = logging.getLogger(__name__)

# INCR each key, starting its window on the first hit; atomic, and works on Redis < 7 (no
# EXPIRE NX). Returns count, ttl for each key in turn.
_HIT = """
local out = {}
for _, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  out[#out + 1] = count
  out[#out + 1] = redis.call('TTL', key)
end
return out
"""


def login_budgets(
    settings: Settings, *, host: str | None, account: str
) -> dict[str, tuple[str, int]]:
    """What one authentication attempt counts against: the account tried (from any IP, under
    the spelling accounts are looked up by) and the client address (on any account). The API's
    token and register endpoints and the console's login share these counts."""
    try:
        folded = fold_email(account)
    except ValueError:  # refused by the text policy: still counted, under its raw spelling
        folded = account.strip().lower()
    return {
        "account": (folded, settings.auth_rate_limit_account),
        "ip": (host or "-", settings.auth_rate_limit_ip),
    }


async def hit(
    *, redis: Redis, scope: str, budgets: Mapping[str, tuple[str, int]], window_s: int
) -> None:
    """Counts one attempt in `scope` against each budget `name → (who, limit)`, e.g.
    `{"account": (email, 10), "ip": (address, 60)}`; RateLimited when any is past its limit.

    Redis unreachable: the attempt is let through (logins keep working; argon2 still slows
    guessing down) rather than locking every user out.
    """
    keys = [
        f"ratelimit:{scope}:{name}:{hashlib.sha256(who.encode()).hexdigest()[:32]}"
        for name, (who, _limit) in budgets.items()
    ]
    try:
        counts = await redis.eval(_HIT, len(keys), *keys, window_s)  # type: ignore[misc]
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        logger.warning("rate limit skipped, Redis unavailable: %s", exc)
        return
    limits = [limit for _who, limit in budgets.values()]
    spent = [
        max(int(ttl), 1)
        for limit, count, ttl in zip(limits, counts[0::2], counts[1::2], strict=True)
        if int(count) > limit
    ]
    if spent:
        raise RateLimited(retry_after=max(spent))
