"""`WriteBehind` runs a write after its caller moved on, up to its bound, and drains at the end."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as aioredis

from shared.lua import HASH_PUT
from shared.write_behind import WriteBehind


async def test_the_caller_moves_on_before_the_write_and_drain_waits_for_it() -> None:
    writes, done, release = WriteBehind(), [], asyncio.Event()

    async def write() -> None:
        await release.wait()
        done.append("written")

    await writes.write(write())
    assert (done, writes.pending) == ([], 1)
    release.set()
    await writes.drain()
    assert (done, writes.pending) == (["written"], 0)


async def test_beyond_its_bound_a_write_is_made_by_its_caller() -> None:
    writes, done, release = WriteBehind(limit=1), [], asyncio.Event()

    async def held() -> None:
        await release.wait()
        done.append("held")

    async def inline() -> None:
        done.append("inline")

    await writes.write(held())
    await writes.write(inline())  # one pending already: written before `write` returns
    assert (done, writes.pending) == (["inline"], 1)
    release.set()
    await writes.drain()
    assert done == ["inline", "held"]


async def test_a_failed_write_is_logged_and_the_next_ones_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writes, done = WriteBehind(), []

    async def broken() -> None:
        raise RuntimeError("disk on fire")

    async def fine() -> None:
        done.append("fine")

    with caplog.at_level(logging.ERROR, logger="shared.write_behind"):
        await writes.write(broken())
        await writes.write(fine())
        await writes.drain()
    assert done == ["fine"]
    assert "a write behind failed" in caplog.text and "disk on fire" in caplog.text


async def test_a_redis_write_made_behind_lands_in_redis(redis_url: str) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    writes = WriteBehind()
    try:
        await redis.delete("wb:h")
        for n in range(20):
            await writes.write(HASH_PUT(redis, ["wb:h"], [f"f{n}", n, 60]))
        await writes.drain()
        assert await redis.hlen("wb:h") == 20
    finally:
        await redis.aclose()
