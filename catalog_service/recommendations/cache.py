"""The catalog's cache of its final answers (hydrated épreuve cards), in this process's memory
and in Redis; and the rule that retires them.

Redis holds one hash per user (`…:u:<id>`: their recommendations) or épreuve (`…:i:<id>`: its
similar épreuves). A field names the request plus the six values the answer depends on, which
the lookup reads in the same round trip (one Lua script) as the entry:
- this user's token here, replaced after each of their interactions (`AnswerCache.forget`);
- the épreuves generation here, bumped by any change to an épreuve (`AnswerCache.forget`);
- the recommender's active version, running experiment, items generation and this user's
  token there (`shared.freshness`), which it moves whenever its answers change.
An answer computed from state read before a change is stored under the old values and never
read. The memory layer (`catalog_service.memory`) hears the same changes as notices: this
service's own, the recommender's, and any activation. Entries are the response bytes as sent,
with their own expiry; counters and averages in them may lag by at most `ttl_seconds` (an
answer built from cards kept in memory, `cards`, expires that long after the oldest was read).
An entry is a list as `impressions.lists` keeps it (the bytes without an id, and what they
show), so that every hit is served with a fresh id and recorded as an impression.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import RedisError

from catalog_service.impressions.lists import Listed
from catalog_service.memory import CHANNEL
from catalog_service.outbox.relay import Published
from catalog_service.recommendations.cards import card_scope
from shared.enums import Surface
from shared.events import EventType
from shared.freshness import (
    ABSENT,
    ACTIVE_POINTER_KEY,
    EXPERIMENT_POINTER_KEY,
    ITEMS_GENERATION_KEY,
    USER_TOKEN_TTL_SECONDS,
    user_scope,
    user_token_key,
)
from shared.lua import LuaScript, cache_put
from shared.nearcache import EVERYTHING, NearCache
from shared.write_behind import WriteBehind

logger = logging.getLogger(__name__)

LOOKUPS = Counter("catalog_recommendations_cache_total", "Answer cache lookups", ["result"])
_MEMORY_HIT, _REDIS_HIT, _MISS = (LOOKUPS.labels(r) for r in ("memory", "redis", "miss"))

PREFIX = "catalog:recommendations"
GENERATION_KEY = f"{PREFIX}:gen"
_NO_USER = f"{PREFIX}:t:none"  # never written: similar lists depend on no user

_GET = """
local stamp = {}
for i = 1, 6 do stamp[i] = redis.call('GET', KEYS[i]) or ARGV[2] end
stamp[7] = redis.call('HGET', KEYS[7], ARGV[1] .. '|' .. table.concat(stamp, '|', 1, 6))
return stamp
"""


_EXPERIMENT = 3  # the experiment pointer's place in a stamp (the keys of `_GET`, in order)


def _user_token_key(user_id: int) -> str:
    return f"{PREFIX}:t:{user_id}"


def item_scope(epreuve_id: int) -> str:
    return f"i:{epreuve_id}"


@dataclass(frozen=True)
class Found:
    listed: Listed | None  # the cached answer
    stamp: str | None  # the values it depends on, None when Redis could not say
    mark: int  # the memory layer's position before the lookup

    def names_experiment(self, experiment_id: int | None) -> bool:
        """Whether a user's answer, naming this experiment (or none), follows the experiment
        pointer this lookup read: a replica that has not loaded a new experiment yet answers
        without its arm, and that answer must not be kept under the new stamp."""
        if self.stamp is None:
            return False
        pointer = self.stamp.split("|")[_EXPERIMENT]
        return pointer == (ABSENT if experiment_id is None else str(experiment_id))


# The payload field naming whose answers an event of the catalog retires.
_USER_FIELD: dict[str, str] = {
    EventType.INTERACTION_CREATED: "user_id",
    EventType.EVALUATION_UPSERTED: "user_id",
    EventType.USER_UPSERTED: "id",
    EventType.USER_DELETED: "id",
}
_EPREUVE_EVENTS: tuple[str, ...] = (EventType.EPREUVE_UPSERTED, EventType.EPREUVE_DELETED)

# KEYS: the épreuves generation, then each user's token and answers. ARGV: the tokens' life,
# "1" when épreuves changed, the notice's channel and text, then each user's new token.
_FORGET = LuaScript("""
for i = 2, #KEYS, 2 do
  redis.call('SET', KEYS[i], ARGV[4 + i / 2], 'EX', ARGV[1])
  redis.call('DEL', KEYS[i + 1])
end
if ARGV[2] == '1' then redis.call('INCR', KEYS[1]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
""")


class AnswerCache:
    def __init__(self, redis: aioredis.Redis, memory: NearCache, *, ttl_seconds: int) -> None:
        """`redis` must not decode responses: entries are bytes."""
        self.redis = redis
        self.memory = memory
        self.ttl_seconds = min(ttl_seconds, USER_TOKEN_TTL_SECONDS)
        self._get = redis.register_script(_GET)
        self.writes = WriteBehind()

    def _memory_expiry(self) -> float:
        # An alias of an entry already in memory: the entry's own expiry is not kept there,
        # and a shorter life only costs a Redis read.
        return time.time() + min(self.ttl_seconds, 60)

    def remembered(self, scope: str, key: str) -> Listed | None:
        """The memory layer alone: no round trip (`recommendations.memory_hits`)."""
        listed = self.memory.get(scope, key)
        if listed is not None:
            _MEMORY_HIT.inc()
        return listed  # type: ignore[no-any-return]

    async def lookup(
        self, scope: str, key: str, *, user_id: int | None, alias: str | None = None
    ) -> Found:
        """Memory, else Redis. Redis down is a miss: the answer is computed, not stored.

        `alias`: the raw request the answer is also kept under in memory (`remembered`)."""
        mark = self.memory.mark()
        listed = self.remembered(scope, key)
        if listed is not None:
            if alias is not None:
                self.memory.put(scope, alias, listed, mark=mark, expires_at=self._memory_expiry())
            return Found(listed, None, mark)
        keys = [
            _user_token_key(user_id) if user_id is not None else _NO_USER,
            GENERATION_KEY,
            ACTIVE_POINTER_KEY,
            EXPERIMENT_POINTER_KEY,
            ITEMS_GENERATION_KEY,
            user_token_key(user_id) if user_id is not None else _NO_USER,
            f"{PREFIX}:{scope}",
        ]
        try:
            *values, raw = await self._get(keys=keys, args=[key, ABSENT])
        except (RedisError, OSError):
            _MISS.inc()
            return Found(None, None, mark)
        stamp = b"|".join(values).decode()
        if raw is not None:
            expires, _, entry = raw.partition(b"|")
            if float(expires) > time.time():
                _REDIS_HIT.inc()
                listed = Listed.from_bytes(entry)
                for name in (key, alias) if alias is not None else (key,):
                    self.memory.put(scope, name, listed, mark=mark, expires_at=float(expires))
                return Found(listed, stamp, mark)
        _MISS.inc()
        return Found(None, stamp, mark)

    async def store(
        self,
        found: Found,
        scope: str,
        key: str,
        listed: Listed,
        *,
        alias: str | None = None,
        read_at: float | None = None,
    ) -> None:
        """Keeps `listed`, a miss's answer, under the stamp its lookup read, until `ttl_seconds`
        after `read_at` (when its oldest card was read; now by default): in memory at once, in
        Redis once the answer has left (`writes`)."""
        if found.stamp is None:
            return
        if listed.shown.surface is Surface.RECOMMENDATIONS and not found.names_experiment(
            listed.shown.experiment_id
        ):
            return
        now = time.time()
        expires = min(now if read_at is None else read_at, now) + self.ttl_seconds
        if expires <= now:
            return
        for name in (key, alias) if alias is not None else (key,):
            self.memory.put(scope, name, listed, mark=found.mark, expires_at=expires)
        entry = b"%.3f|%s" % (expires, listed.to_bytes())
        field = f"{key}|{found.stamp}"
        await self.writes.write(
            cache_put(self.redis, f"{PREFIX}:{scope}", field, entry, self.ttl_seconds)
        )

    async def forget(
        self,
        *,
        users: Iterable[int] = (),
        epreuves_changed: bool = False,
        rated: Iterable[int] = (),
    ) -> None:
        """Retires the answers these catalog changes make stale, on every replica: a user's own
        after their interactions (the épreuves they used leave their lists), every answer after
        an épreuve changed (its card, or whether it may be listed at all), and the cards kept in
        memory (`cards`) of the `rated` épreuves, whose averages moved. One script call
        (atomic, like a MULTI, at the client cost of one command whatever the number of users)
        and one notice; this process's memory is emptied of those answers before the call
        returns, so that the writer's next request cannot be answered from it ahead of the
        notice (read-your-writes on the replica that took the write; the others follow the
        notice).

        Never fails its caller, whose write is committed: with Redis unreachable, nothing is
        read from the caches either (lookups miss, the memory layer is not trusted while
        unsubscribed)."""
        users, rated = sorted(set(users)), sorted(set(rated))
        if not users and not epreuves_changed and not rated:
            return
        keys = [GENERATION_KEY]
        for user_id in users:
            keys += [_user_token_key(user_id), f"{PREFIX}:{user_scope(user_id)}"]
        scopes = [user_scope(u) for u in users] + [card_scope(e) for e in rated]
        notice = EVERYTHING if epreuves_changed else " ".join(scopes)
        args: list[str | int] = [USER_TOKEN_TTL_SECONDS, int(epreuves_changed), CHANNEL, notice]
        args += [secrets.token_hex(8) for _ in users]
        try:
            await _FORGET(self.redis, keys, args)
        except (RedisError, OSError) as exc:
            logger.warning("recommendation answers not retired (%r)", exc)
        self.memory.retire(notice)  # after the script: a lookup between the two stores nothing

    async def forget_events(self, events: Iterable[Published]) -> None:
        """`forget` for the catalog's own events as the outbox relay publishes them: every
        writer (API, console, seed, another replica) ends there, whichever path it took. The
        API's own write paths retire their user's answers already, before answering
        (read-your-writes: the group commit, the routes that record a view, a download or a
        rating); this is the net. Only the payloads that name a user are decoded (not
        impressions, the bulk of the stream)."""
        users: set[int] = set()
        rated: set[int] = set()
        epreuves_changed = False
        for event in events:
            if event.type in _EPREUVE_EVENTS:
                epreuves_changed = True
                continue
            field = _USER_FIELD.get(event.type)
            if field is None:
                continue
            with contextlib.suppress(ValueError, KeyError, TypeError):  # not ours to judge here
                payload = json.loads(event.payload)
                users.add(int(payload[field]))
                if event.type == EventType.EVALUATION_UPSERTED:
                    rated.add(int(payload["epreuve_id"]))
        await self.forget(users=users, epreuves_changed=epreuves_changed, rated=rated)
