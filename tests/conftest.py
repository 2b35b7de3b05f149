"""Session-wide test infrastructure: a fresh, migrated database and a clean Redis per test.

`make test` (shared.devstack) starts throw-away PostgreSQL and Redis servers, or uses the ones
DATABASE_URL / REDIS_URL name. This suite never touches the database those name: it creates its
own database on the same server, migrates both services' schemas once, and empties every table
before each test that asks for `database_url`, so assertions can be exact.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from migrations.runner import upgrade
from shared.database import asyncpg_url
from shared.devstack import PostgresControl

SCHEMAS = ("catalog", "recommender")


@contextlib.asynccontextmanager
async def asgi_client(
    app: FastAPI, *, lifespan: bool = False, base_url: str = "http://test", **client_args: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on `app` with no socket. ASGITransport does not run the app's lifespan:
    `lifespan=True` runs its startup before the client and its shutdown after."""
    async with contextlib.AsyncExitStack() as stack:
        if lifespan:
            await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        yield await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url=base_url, **client_args)
        )


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.exit("DATABASE_URL is not set: run the suite with `make test`", returncode=2)
    return url


def _with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    base, _, query = url.partition("?")
    head, _, _old = base.rpartition("/")
    return f"{head}/{database}" + (f"?{query}" if query else "")


def _plain(url: str) -> str:
    return asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


@contextlib.asynccontextmanager
async def own_database(server: str, prefix: str) -> AsyncIterator[str]:
    """A new, empty database on `server`'s PostgreSQL (its URL), dropped afterwards. Each
    statement opens its own connection: the fault tests restart the server in between."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server, name)
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(server: str, statement: str) -> None:
    conn = await asyncpg.connect(_plain(server))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def migrated_database_url() -> AsyncIterator[str]:
    """A database of our own on the test server, migrated to head for both services."""
    async with own_database(_server_url(), "epreuves_test") as url:
        for schema in SCHEMAS:
            upgrade(schema, url)
        yield url


@pytest.fixture
async def database_url(migrated_database_url: str) -> str:
    """The migrated test database, emptied of every row (identities restarted)."""
    conn = await asyncpg.connect(_plain(migrated_database_url))
    try:
        tables = await conn.fetch(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname = ANY($1::text[]) AND tablename <> 'alembic_version'",
            list(SCHEMAS),
        )
        if tables:
            names = ", ".join(f'"{t["schemaname"]}"."{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    return migrated_database_url


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """The test Redis, flushed before each test that asks for it."""
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.exit("REDIS_URL is not set: run the suite with `make test`", returncode=2)
    client = aioredis.from_url(url)
    await client.flushall()
    await client.aclose()
    yield url


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Any]:
    """One headless Chromium for the whole session (a fresh context per test is cheap);
    the browser tests are skipped, with that reason, where no Chromium is installed."""
    from tests.browser import chromium_executable, launch

    executable = chromium_executable()
    if not executable:
        pytest.skip("no Chromium installed (apt-get install chromium; .ci/run does it)")
    async with launch(executable) as browser:
        yield browser


def restart_postgres(mode: Literal["smart", "fast", "immediate"] = "immediate") -> None:
    """`pg_ctl restart` of the embedded test server (shared.devstack exports where it is);
    skips the test against an external server, which this suite must not restart."""
    control = PostgresControl.from_env()
    if control is None:
        pytest.skip("PostgreSQL is external (DATABASE_URL set): not restarting it")
    control.restart(mode)
