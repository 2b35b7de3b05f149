"""`fault_stack`: both services as processes on a database of their own on the test server,
with a Redis of their own (the scenarios kill it) and, when `make test` started the PostgreSQL,
its `pg_ctl` (PostgresControl.from_env()). One stack for the module: scenarios run in turn,
each judged on its own rows."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from shared.devstack import PostgresControl
from tests.conftest import own_database
from tests.faults.stack import FaultStack


@pytest.fixture(scope="module")
async def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FaultStack]:
    async with own_database(os.environ["DATABASE_URL"], "epreuves_faults") as database_url:
        stack = await FaultStack.start(
            tmp_path_factory.mktemp("faults"),
            database_url=database_url,
            postgres=PostgresControl.from_env(),
            students=8,
            epreuves=8,
            # A killed consumer's entries are taken over after 2 s, not 60 s: the test waits less.
            extra_env={"CLAIM_IDLE_MS": "2000", "CONSUMER_BLOCK_MS": "200"},
        )
        try:
            yield stack
        finally:
            await stack.close()
