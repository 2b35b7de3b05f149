"""The result cache: this process's memory first, then Redis; and the rule that retires answers.

Redis holds one hash per user (`…:u:<id>`) or item (`…:i:<id>`). A field names the request
(model version, parameters) plus the items generation and the user's token it was computed
under (`shared.freshness`), so `forget` retires answers in one script, for every replica:
- a user's change (an interaction, a profile change) replaces the user's token and deletes
  their hash; an answer computed from older state, stored after that, is never read;
- an item change bumps the items generation, which retires every entry at once;
- a new active version changes the field name: old answers are never read again;
and it then publishes the notice (`"u:<id>"` or `"*"`) that empties every process's memory
layer (`shared.nearcache`), and the users' token swaps (`history_feed`) that move every
replica's in-memory histories along (`serving.history`). A Redis lookup is one round trip (a
Lua script reads generation, token and entry together); the generation and token it returns
also say whether the replica's in-memory items and histories are current. Entries are the
response bytes as sent, with their own expiry (a hash kept alive by newer writes never serves a
stale one), so a hit is served without parsing.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import RedisError

from recommender_service.readmodel.service import Change, Interacted
from recommender_service.serving import history_feed
from shared.freshness import (
    ABSENT,
    CHANGES_CHANNEL,
    ITEMS_GENERATION_KEY,
    USER_TOKEN_TTL_SECONDS,
    user_scope,
    user_token_key,
)
from shared.lua import LuaScript, cache_put
from shared.nearcache import EVERYTHING, NearCache
from shared.write_behind import WriteBehind

if TYPE_CHECKING:
    from recommender_service.serving.history import Histories

CACHE_LOOKUPS = Counter("recommender_cache_lookups_total", "Result cache lookups", ["result"])
_MEMORY_HIT, _REDIS_HIT, _MISS = (CACHE_LOOKUPS.labels(r) for r in ("memory", "redis", "miss"))

PREFIX = "recommender:cache"
UNAVAILABLE = "unavailable"
# Every body starts with its `cached` field, so that a hit is the stored bytes with a new head.
MISS_HEAD = b'{"cached":false,'
HIT_HEAD = b'{"cached":true,'

# KEYS: the items generation, each user's token key, then each user's answers (a hash).
# ARGV: the tokens' TTL, the absent token, 1 to bump the generation, the notice and its channel
# (CHANGES_CHANNEL), the history feed's channel and message, then each user's new token.
_FORGET = LuaScript("""
local n = (#KEYS - 1) / 2
local olds = {}
for i = 1, n do
    olds[i] = redis.call('GET', KEYS[1 + i]) or ARGV[2]
    redis.call('SET', KEYS[1 + i], ARGV[7 + i], 'EX', ARGV[1])
    redis.call('DEL', KEYS[1 + n + i])
end
if ARGV[3] == '1' then redis.call('INCR', KEYS[1]) end
redis.call('PUBLISH', ARGV[5], ARGV[4])
if n > 0 then redis.call('PUBLISH', ARGV[6], table.concat(olds, ' ') .. '\\n' .. ARGV[7]) end
return olds
""")

_GET = """
local gen = redis.call('GET', KEYS[1]) or ARGV[2]
local token = redis.call('GET', KEYS[2]) or ARGV[2]
return {gen, token, redis.call('HGET', KEYS[3], ARGV[1] .. '|g' .. gen .. '|t' .. token)}
"""


@dataclass(frozen=True)
class Stamp:
    """The items generation and the user's token a lookup read: what an answer, an item table
    or a history computed now is valid for."""

    generation: str
    token: str = ABSENT

    @property
    def known(self) -> bool:
        return self.generation != UNAVAILABLE


@dataclass(frozen=True)
class Found:
    body: bytes | None  # the cached response, ready to send
    label: str  # how the answer was made ("model" or a fallback), for the counters
    stamp: Stamp
    mark: int  # the memory layer's position before the lookup
    expires_at: float = 0.0


def as_hit(body: bytes) -> bytes:
    return HIT_HEAD + body[len(MISS_HEAD) :]


def item_token_key(item_id: int) -> str:
    # Never written: an item's answers change only with the items generation.
    return f"{PREFIX}:t:i:{item_id}"


class ResultCache:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        ttl_seconds: int,
        memory_entries: int = 10_000,
        histories: Histories | None = None,
    ) -> None:
        """`redis` must not decode responses: entries are bytes. `histories`: this replica's,
        moved along when its consumer's changes swap users' tokens (`forget`)."""
        self.redis = redis
        self.histories = histories
        self.ttl_seconds = ttl_seconds
        # The history feed rides on the memory layer's subscription: one connection, its pings.
        feed = {} if histories is None else {
            history_feed.HISTORY_CHANNEL: functools.partial(history_feed.heard, histories)
        }  # fmt: skip
        self.memory = NearCache(
            redis, scope_channels=[CHANGES_CHANNEL], max_entries=memory_entries, listeners=feed
        )
        self.hits = 0
        self.misses = 0
        self._get = redis.register_script(_GET)
        self.writes = WriteBehind()

    @staticmethod
    def user_scope(user_id: int) -> str:
        return user_scope(user_id)

    @staticmethod
    def item_scope(item_id: int) -> str:
        return f"i:{item_id}"

    def remembered(self, scope: str, alias: str) -> tuple[str, bytes] | None:
        """(label, body) kept in memory under `alias`: a repeated request, answered before any
        routing or validation (`api.memory_hits`)."""
        remembered = self.memory.get(scope, alias)
        if remembered is None:
            return None
        self.hits += 1
        _MEMORY_HIT.inc()
        return remembered[0], remembered[1]

    async def lookup(
        self, scope: str, field: str, *, token_key: str, alias: str | None = None
    ) -> Found:
        """Memory, else Redis. Redis down is a miss, not an error: every answer is computed.

        `alias`: the raw request the answer is also remembered under (see `remembered`)."""
        mark = self.memory.mark()
        remembered = self.memory.get(scope, field)
        if remembered is not None:
            self.hits += 1
            _MEMORY_HIT.inc()
            label, body, expires = remembered
            found = Found(body, label, Stamp(UNAVAILABLE), mark, expires)
            self._remember(scope, (alias,), found)
            return found
        try:
            gen, token, raw = await self._get(
                keys=[ITEMS_GENERATION_KEY, token_key, f"{PREFIX}:{scope}"], args=[field, ABSENT]
            )
            stamp = Stamp(gen.decode(), token.decode())
        except (RedisError, OSError):
            return self._missed(Stamp(UNAVAILABLE), mark)
        if raw is not None:
            expires, label, body = raw.split(b"|", 2)
            if float(expires) > time.time():
                self.hits += 1
                _REDIS_HIT.inc()
                found = Found(as_hit(body), label.decode(), stamp, mark, float(expires))
                self._remember(scope, (field, alias), found)
                return found
        return self._missed(stamp, mark)

    def _remember(self, scope: str, keys: tuple[str | None, ...], found: Found) -> None:
        assert found.body is not None
        value = (found.label, found.body, found.expires_at)
        for key in keys:
            if key is not None:
                self.memory.put(scope, key, value, mark=found.mark, expires_at=found.expires_at)

    def _missed(self, stamp: Stamp, mark: int) -> Found:
        self.misses += 1
        _MISS.inc()
        return Found(None, "", stamp, mark)

    async def store(
        self,
        found: Found,
        scope: str,
        field: str,
        body: bytes,
        *,
        label: str,
        ttl_seconds: int,
        alias: str | None = None,
    ) -> None:
        """Keeps `body` (a miss's answer, `MISS_HEAD` first) under the stamp it was computed for:
        in memory at once, in Redis once the answer has left (`writes`)."""
        if not found.stamp.known:
            return
        expires = time.time() + min(ttl_seconds, self.ttl_seconds)
        hit = Found(as_hit(body), label, found.stamp, found.mark, expires)
        self._remember(scope, (field, alias), hit)
        entry = b"%.3f|%s|%s" % (expires, label.encode(), body)
        stamped = f"{field}|g{found.stamp.generation}|t{found.stamp.token}"
        await self.writes.write(
            cache_put(self.redis, f"{PREFIX}:{scope}", stamped, entry, self.ttl_seconds)
        )

    async def forget(self, changes: Collection[Change]) -> None:
        await forget(self.redis, changes, histories=self.histories, memory=self.memory)


async def forget(
    redis: aioredis.Redis,
    changes: Collection[Change],
    *,
    histories: Histories | None = None,
    memory: NearCache | None = None,
) -> None:
    """Retires the answers read-model changes make stale, on every replica: a user's own on
    their interaction or profile change, every answer on an item change. One script for all of
    them: it swaps each user's token (returning the old ones), bumps the generation, publishes
    the notice (its scopes space-separated) and the swaps (`history_feed`).

    `histories`: this replica's, moved to the new tokens before any of its lookups uses them.
    `memory`: this process's, emptied of those answers before the call returns (its next
    lookup must not wait for the notice to come back)."""
    users = _by_user(changes)
    everything = any(c.items_changed for c in changes)
    if not users and not everything:
        return
    ids = sorted(users)
    tokens = {user_id: secrets.token_hex(8) for user_id in ids}
    origin = histories.origin if histories is not None else ""
    feed = history_feed.encode(origin, [(u, tokens[u], users[u]) for u in ids])
    notice = EVERYTHING if everything else " ".join(user_scope(u) for u in ids)
    keys = [
        ITEMS_GENERATION_KEY,
        *(user_token_key(u) for u in ids),
        *(f"{PREFIX}:{user_scope(u)}" for u in ids),
    ]
    args: list[str | int] = [
        USER_TOKEN_TTL_SECONDS, ABSENT, int(everything), notice, CHANGES_CHANNEL,
        history_feed.HISTORY_CHANNEL, feed, *tokens.values(),
    ]  # fmt: skip
    if histories is None:
        await _FORGET(redis, keys, args)
    else:
        with histories.swapping(tokens):
            olds = await _FORGET(redis, keys, args)
            histories.advance(
                history_feed.Swap(u, _text(old), tokens[u], users[u])
                for u, old in zip(ids, olds, strict=True)
            )
    if memory is not None:
        memory.retire(notice)


def _by_user(changes: Collection[Change]) -> dict[int, tuple[Interacted, ...] | None]:
    """Per user changed, the interactions applied, or None if their profile changed."""
    users: dict[int, tuple[Interacted, ...] | None] = {}
    for change in changes:
        if change.user_id is None:
            continue
        held = users.get(change.user_id, ())
        if held is None or change.profile_changed:
            users[change.user_id] = None
        else:
            users[change.user_id] = held + change.interactions
    return users


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
