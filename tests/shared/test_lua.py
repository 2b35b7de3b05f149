"""A `LuaScript` runs on whichever real Redis it is given, whether or not that Redis holds it."""

from __future__ import annotations

import redis.asyncio as aioredis

from shared.lua import HASH_PUT, LuaScript

_SWAP = LuaScript(
    "local old = redis.call('GET', KEYS[1]); redis.call('SET', KEYS[1], ARGV[1]); return old"
)


async def test_runs_where_redis_has_never_seen_it_and_again_after_a_flush(redis_url: str) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    try:
        await redis.script_flush()
        assert await _SWAP(redis, ["lua:k"], ["one"]) is None
        assert (await redis.script_exists(_SWAP.sha)) == [True]  # the next call goes by its SHA
        assert await _SWAP(redis, ["lua:k"], ["two"]) == b"one"
        await redis.script_flush()  # what a restarted Redis forgets
        assert await _SWAP(redis, ["lua:k"], ["three"]) == b"two"
        assert await redis.get("lua:k") == b"three"
    finally:
        await redis.aclose()


async def test_hash_put_stores_the_field_and_gives_the_hash_its_lifetime(redis_url: str) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    try:
        await redis.hset("lua:h", "older", "kept")
        assert await HASH_PUT(redis, ["lua:h"], ["f", b"entry", 120]) == 1
        assert await redis.hgetall("lua:h") == {b"older": b"kept", b"f": b"entry"}
        assert 0 < await redis.ttl("lua:h") <= 120
    finally:
        await redis.aclose()
