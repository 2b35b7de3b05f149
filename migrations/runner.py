"""Runs one service's Alembic environment: used by each `env.py` and by `<service> migrate`.

Each service keeps its tables and its `alembic_version` table in its own schema, so the two
migrate independently. A PostgreSQL advisory lock per schema makes concurrent `migrate` calls
(several replicas starting at once) run one after the other instead of racing.
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.database import asyncpg_url

HERE = Path(__file__).resolve().parent


def alembic_config(schema: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE / schema))
    config.set_main_option("sqlalchemy.url", asyncpg_url(database_url))
    return config


def upgrade(schema: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(schema, database_url), revision)


def downgrade(schema: str, database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(schema, database_url), revision)


def _lock_id(schema: str) -> int:
    return zlib.crc32(f"migrate:{schema}".encode())


def _do_run(connection: Connection, metadata: MetaData, schema: str) -> None:
    connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _lock_id(schema)})
    try:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _lock_id(schema)})
        connection.commit()


async def _run_online(metadata: MetaData, schema: str) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by alembic_config"
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_do_run, metadata, schema)
    await engine.dispose()


def run_env(metadata: MetaData, schema: str) -> None:
    """The body of each env.py."""
    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            version_table_schema=schema,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_run_online(metadata, schema))
    else:  # called from inside a running loop (tests): run on a fresh loop in a thread
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as pool_:
            pool_.submit(asyncio.run, _run_online(metadata, schema)).result()
