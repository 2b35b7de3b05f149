"""A PostgreSQL restart under concurrent writes (issue 8 §5): every failure to reach the
database is a 503 with Retry-After, never a 500, and every 201 is stored."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from sqlalchemy import select

from catalog_service.interactions.models import Interaction
from shared.database import driver_fetch
from shared.http_errors import is_unavailable
from tests.conftest import restart_postgres

WRITERS = 8


async def test_a_postgres_restart_under_writes_gives_503s_never_500s_and_loses_no_201(
    client: httpx.AsyncClient, make_user, make_epreuve, app
) -> None:
    epreuve = await make_epreuve()
    users = [await make_user() for _ in range(WRITERS)]
    statuses: Counter[int] = Counter()
    acknowledged: list[int] = []
    restarted = asyncio.Event()
    after_restart: Counter[int] = Counter()

    async def write(headers: dict[str, str]) -> None:
        # Until the restart is over and this writer has had a 201 since.
        while True:
            body = {"epreuve_id": epreuve.id, "kind": "CLICK", "metadata": {"n": len(acknowledged)}}
            response = await client.post("/v1/interactions", json=body, headers=headers)
            statuses[response.status_code] += 1
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])
            else:
                assert response.json()["code"] == "service_unavailable", response.text
                assert response.headers["retry-after"] == "1"
                await asyncio.sleep(0.05)
            if restarted.is_set():
                after_restart[response.status_code] += 1
                if response.status_code == 201:
                    return

    async def read(headers: dict[str, str]) -> None:
        while True:
            response = await client.get("/v1/epreuves", headers=headers)
            statuses[response.status_code] += 1
            if response.status_code != 200:
                assert response.json()["code"] == "service_unavailable", response.text
                await asyncio.sleep(0.05)
            elif restarted.is_set():
                return

    async def restart() -> None:
        await asyncio.sleep(0.3)  # let the writers get going
        await asyncio.to_thread(restart_postgres, "immediate")
        restarted.set()

    async with asyncio.timeout(120):
        await asyncio.gather(
            restart(),
            *(write(headers) for _, headers in users),
            *(read(headers) for _, headers in users[:2]),
        )

    assert set(statuses) <= {200, 201, 503}, statuses
    assert after_restart[201] == WRITERS
    async with app.state.sessionmaker() as session:
        stored = list(await session.scalars(select(Interaction.id)))
    assert sorted(stored) == sorted(acknowledged)


async def test_a_driver_read_after_a_postgres_restart_is_unavailable_then_reconnects(app) -> None:
    """`shared.database.driver_fetch` (the recommendation cards' read) bypasses SQLAlchemy's
    statements: a restart still reads as a lost database (a 503), and it fails at most once per
    pooled connection before it reads again."""
    engine = app.state.engine
    size = engine.pool.size()
    # Every pooled connection opened (and kept) before the restart.
    await asyncio.gather(*(driver_fetch(engine, "SELECT pg_sleep(0.05)", ()) for _ in range(size)))
    assert engine.pool.checkedin() == size
    await asyncio.to_thread(restart_postgres, "immediate")
    failures: list[BaseException] = []
    for _ in range(size + 3):
        try:
            rows = await driver_fetch(engine, "SELECT $1::int AS n", (7,))
        except Exception as exc:
            failures.append(exc)
            continue
        assert rows[0]["n"] == 7
        break
    else:
        raise AssertionError(f"never read again: {failures!r}")
    assert all(is_unavailable(exc) for exc in failures), failures
    assert len(failures) <= size
