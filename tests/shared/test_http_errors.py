"""What shared.http_errors calls "unavailable": real failures to reach PostgreSQL, classified
by class and SQLSTATE; a bug in a query is not one."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from shared.database import asyncpg_url, make_engine
from shared.http_errors import is_unavailable
from tests.e2e.servers import free_port


async def test_a_refused_connection_is_unavailable() -> None:
    engine = make_engine(f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    with pytest.raises(Exception) as caught:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    await engine.dispose()
    assert is_unavailable(caught.value)


async def test_an_exhausted_pool_is_unavailable(migrated_database_url: str) -> None:
    engine = create_async_engine(
        asyncpg_url(migrated_database_url), pool_size=1, max_overflow=0, pool_timeout=0.5
    )
    try:
        async with engine.connect():
            with pytest.raises(Exception) as caught:
                async with engine.connect():
                    pass
    finally:
        await engine.dispose()
    assert is_unavailable(caught.value)


async def test_a_terminated_backend_is_unavailable(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with engine.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await asyncio.sleep(0.1)
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert is_unavailable(caught.value)


async def test_a_query_the_server_refuses_is_not_unavailable(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"})
    finally:
        await engine.dispose()
    assert not is_unavailable(caught.value)
