"""Every service's migrations go up, down to nothing, and up again on a real PostgreSQL."""

import uuid

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


@pytest.mark.parametrize("schema", SCHEMAS)
async def test_upgrade_downgrade_upgrade(schema: str) -> None:
    server = _server_url()
    name = f"epreuves_migrate_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_plain(server))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server, name)
    try:
        upgrade(schema, url)
        at_head = await _tables(url, schema)
        assert len(at_head - {"alembic_version"}) >= 4
        downgrade(schema, url, "base")
        assert await _tables(url, schema) == {"alembic_version"}
        upgrade(schema, url)
        assert await _tables(url, schema) == at_head
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
