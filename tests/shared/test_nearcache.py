"""The near cache on a real Redis: trusted only while subscribed, emptied by notices."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from shared.nearcache import NearCache

CHANNEL = "test:changes"
CLEAR = "test:clear"
LATER = time.time() + 3600


@dataclass
class Running:
    cache: NearCache
    redis: aioredis.Redis

    async def notice(self, channel: str, data: str) -> None:
        """Publishes, then waits until the cache has handled it (a marker notice after it)."""
        await self.redis.publish(channel, data)
        marker = f"marker:{time.monotonic_ns()}"
        self.cache.put(marker, "k", 1, mark=self.cache.mark(), expires_at=LATER)
        await self.redis.publish(CHANNEL, marker)
        for _ in range(400):
            if self.cache.get(marker, "k") is None:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the notice never arrived")


@pytest.fixture
async def running(redis_url: str) -> AsyncIterator[Running]:
    redis = aioredis.from_url(redis_url)
    cache = NearCache(redis, scope_channels=[CHANNEL], clear_channels=[CLEAR], max_entries=3)
    stop = asyncio.Event()
    task = asyncio.create_task(cache.run(stop))
    assert await cache.wait_live(10)
    yield Running(cache, redis)
    stop.set()
    await asyncio.wait_for(task, 10)
    await redis.aclose()


def _fill(cache: NearCache, *scopes: str) -> None:
    for scope in scopes:
        cache.put(scope, "k", scope.encode(), mark=cache.mark(), expires_at=LATER)


async def test_nothing_is_kept_or_served_before_the_subscription_is_confirmed(
    redis_url: str,
) -> None:
    cache = NearCache(aioredis.from_url(redis_url), scope_channels=[CHANNEL])
    assert cache.mark() == -1
    cache.put("u:1", "k", b"v", mark=0, expires_at=LATER)
    assert (len(cache), cache.get("u:1", "k")) == (0, None)


async def test_a_notice_drops_its_scope_only(running: Running) -> None:
    _fill(running.cache, "u:1", "u:2")
    await running.notice(CHANNEL, "u:1")
    assert running.cache.get("u:1", "k") is None
    assert running.cache.get("u:2", "k") == b"u:2"


async def test_one_notice_drops_each_scope_it_names(running: Running) -> None:
    _fill(running.cache, "u:1", "u:2", "u:3")
    running.cache.notice(
        CHANNEL, "u:1 u:3"
    )  # as heard (the bound of 3 leaves no room for a marker)
    assert [running.cache.get(s, "k") for s in ("u:1", "u:2", "u:3")] == [None, b"u:2", None]


@pytest.mark.parametrize(("channel", "data"), [(CHANNEL, "*"), (CHANNEL, "u:1 *"), (CLEAR, "7")])
async def test_everything_goes_on_a_star_or_a_clearing_channel(
    running: Running, channel: str, data: str
) -> None:
    _fill(running.cache, "u:1", "u:2")
    await running.notice(channel, data)
    assert (running.cache.get("u:1", "k"), running.cache.get("u:2", "k")) == (None, None)


async def test_a_value_read_before_a_notice_is_not_stored_after_it(running: Running) -> None:
    cache = running.cache
    before = cache.mark()
    cache.drop("u:1")  # what a notice arriving while the value was computed does
    cache.put("u:1", "k", b"stale", mark=before, expires_at=LATER)
    cache.put("u:2", "k", b"other scope", mark=before, expires_at=LATER)
    assert cache.get("u:1", "k") is None
    assert cache.get("u:2", "k") == b"other scope"
    cache.put("u:1", "k", b"fresh", mark=cache.mark(), expires_at=LATER)
    assert cache.get("u:1", "k") == b"fresh"
    cleared = cache.mark()
    cache.clear()
    cache.put("u:3", "k", b"stale", mark=cleared, expires_at=LATER)
    assert cache.get("u:3", "k") is None


async def test_it_is_bounded_least_recently_used_first_and_honours_expiry(
    running: Running,
) -> None:
    cache = running.cache
    _fill(cache, "a", "b", "c")
    assert cache.get("a", "k") == b"a"  # b is now the least recently used
    _fill(cache, "d")
    assert len(cache) == 3
    assert [cache.get(s, "k") for s in "abcd"] == [b"a", None, b"c", b"d"]
    cache.put("e", "k", b"e", mark=cache.mark(), expires_at=time.time() - 1)
    assert cache.get("e", "k") is None


async def test_a_lost_subscription_empties_it_and_it_serves_again_once_back(
    running: Running,
) -> None:
    cache = running.cache
    _fill(cache, "u:1")
    before = cache.mark()
    await running.redis.client_kill_filter(_type="pubsub")
    for _ in range(1000):
        if cache.subscriptions == 2 and cache.live:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("never subscribed again")
    assert (len(cache), cache.get("u:1", "k")) == (0, None)
    cache.put("u:1", "k", b"read while down", mark=before, expires_at=LATER)
    assert cache.get("u:1", "k") is None
    _fill(cache, "u:1")
    assert cache.get("u:1", "k") == b"u:1"
