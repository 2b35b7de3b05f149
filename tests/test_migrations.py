"""Every service's migrations go up, down to nothing, and up again on a real PostgreSQL."""

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from migrations.runner import downgrade, upgrade
from tests.conftest import SCHEMAS, _plain, _server_url, _with_database


async def _tables(url: str, schema: str) -> set[str]:
    conn = await asyncpg.connect(_plain(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


@contextlib.asynccontextmanager
async def _empty_database() -> AsyncIterator[str]:
    """The URL of a new, empty database on the test server, dropped afterwards."""
    server = _server_url()
    name = f"epreuves_migrate_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_plain(server))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.parametrize("schema", SCHEMAS)
async def test_upgrade_downgrade_upgrade(schema: str) -> None:
    async with _empty_database() as url:
        upgrade(schema, url)
        at_head = await _tables(url, schema)
        assert len(at_head - {"alembic_version"}) >= 4
        downgrade(schema, url, "base")
        assert await _tables(url, schema) == {"alembic_version"}
        upgrade(schema, url)
        assert await _tables(url, schema) == at_head


async def test_0004_folds_existing_emails_and_keeps_a_taken_spelling() -> None:
    async with _empty_database() as url:
        upgrade("catalog", url, "0003_evaluations_comments")
        conn = await asyncpg.connect(_plain(url))
        try:
            insert = (
                'INSERT INTO catalog."user" (email, password_hash, full_name, role) '
                "VALUES ($1, 'h', 'U', 'student') RETURNING id"
            )
            # Lower-cased by the old rule, so both passed its unique constraint.
            nfd = await conn.fetchval(insert, "cafe\u0301@x.fr")
            nfc = await conn.fetchval(insert, "caf\u00e9@x.fr")
            lone = await conn.fetchval(insert, "stra\u00dfe@x.de")
            upgrade("catalog", url)
            rows = dict(await conn.fetch('SELECT id, email FROM catalog."user"'))
        finally:
            await conn.close()
        # The NFC account already holds the folded spelling: the NFD one keeps its own.
        assert rows == {nfd: "cafe\u0301@x.fr", nfc: "caf\u00e9@x.fr", lone: "strasse@x.de"}
