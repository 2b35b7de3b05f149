"""A PostgreSQL restart under concurrent requests (issue 8 §5): the recommender answers 503
with Retry-After while the database is away, never a 500, then serves again."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests.conftest import restart_postgres

CLIENTS = 6


async def test_a_postgres_restart_under_requests_gives_503s_never_500s(
    client: httpx.AsyncClient,
) -> None:
    statuses: Counter[int] = Counter()
    restarted = asyncio.Event()
    paths = ("/v1/models", "/v1/users/7/recommendations", "/v1/stats")

    async def ask(path: str) -> None:
        # Until the restart is over and this client has had a 200 since.
        while True:
            response = await client.get(path)
            statuses[response.status_code] += 1
            if response.status_code != 200:
                assert response.json()["code"] == "service_unavailable", response.text
                assert response.headers["retry-after"] == "1"
                await asyncio.sleep(0.05)
            elif restarted.is_set():
                return
            else:
                # An answer from memory never suspends: without a pause the in-process client
                # would keep the loop to itself and the restart would never run.
                await asyncio.sleep(0.01)

    async def restart() -> None:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(restart_postgres, "immediate")
        restarted.set()

    async with asyncio.timeout(120):
        await asyncio.gather(restart(), *(ask(paths[i % len(paths)]) for i in range(CLIENTS)))
    assert set(statuses) <= {200, 503}, statuses
